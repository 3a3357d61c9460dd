//! S3 locations on the command line: credentials and region from the AWS environment
//! variables, addressing from the global flags.

use anyhow::{bail, Result};
use cairn_storage::s3::{Addressing, S3Credentials, S3Options};
use cairn_storage::{S3Location, S3Store};

use crate::cli::GlobalArgs;

/// The key pair from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
pub fn credentials_from_env(location: &S3Location) -> Result<S3Credentials> {
    let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(access_key_id) = read("AWS_ACCESS_KEY_ID") else {
        bail!(
            "AWS_ACCESS_KEY_ID is not set: export the key id and secret of an S3 key that may use \
             bucket {} at {}",
            location.bucket,
            location.endpoint
        );
    };
    let Some(secret_access_key) = read("AWS_SECRET_ACCESS_KEY") else {
        bail!("AWS_SECRET_ACCESS_KEY is not set: export the secret of key id {access_key_id}");
    };
    Ok(S3Credentials {
        access_key_id,
        secret_access_key,
        session_token: read("AWS_SESSION_TOKEN"),
    })
}

/// Options for a store at `location`: environment credentials, `AWS_DEFAULT_REGION`
/// (default us-east-1) and the addressing the global flags ask for.
pub fn options(global: &GlobalArgs, location: &S3Location) -> Result<S3Options> {
    let mut options = S3Options::new(credentials_from_env(location)?);
    if let Some(region) = std::env::var("AWS_DEFAULT_REGION")
        .ok()
        .filter(|r| !r.is_empty())
    {
        options.region = region;
    }
    options.retry.retries = global.s3_retries;
    options.addressing = match (global.s3_path_style, global.s3_virtual_host) {
        (true, true) => bail!("--s3-path-style and --s3-virtual-host exclude each other"),
        (true, false) => Addressing::PathStyle,
        (false, true) => Addressing::VirtualHost,
        (false, false) => Addressing::Auto,
    };
    Ok(options)
}

/// Opens the S3 store at a parsed `s3:` location.
pub fn open_location(global: &GlobalArgs, location: S3Location) -> Result<S3Store> {
    let options = options(global, &location)?;
    Ok(S3Store::open(location, options)?)
}
