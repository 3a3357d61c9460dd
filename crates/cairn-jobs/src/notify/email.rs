//! Email channels: one plain-text mail per event over SMTP (lettre, async on tokio, rustls).
//!
//! `tls = "starttls"` requires the upgrade (a server that does not offer it is an error, never
//! a silent plain connection), `"tls"` speaks TLS from the first byte, `"plain"` never
//! encrypts (a relay on the same host or network). Authentication (PLAIN or LOGIN) is used
//! when a password source is set; the user is `smtp_username`, else the `from` address.

use std::time::Duration;

use cairn_config::{SecretSource, SmtpTls};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::error::{DeliveryError, DeliveryErrorKind};
use super::event::Event;
use super::message;

/// Where and how a channel's mail goes (the config's email settings, borrowed).
pub struct SmtpSettings<'a> {
    pub host: &'a str,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<&'a str>,
    pub password: Option<&'a SecretSource>,
    pub from: &'a str,
    pub to: &'a [String],
}

/// The server's answer to the mail (`250 …`).
pub async fn send(
    channel: &str,
    smtp: &SmtpSettings<'_>,
    event: &Event,
    timeout: Duration,
) -> Result<String, DeliveryError> {
    let invalid = |what: String| {
        DeliveryError::new(
            DeliveryErrorKind::InvalidInput,
            format!("channel {channel}: {what}; fix it in the config"),
        )
    };
    let mailbox = |address: &str| {
        address
            .parse::<Mailbox>()
            .map_err(|e| invalid(format!("{address:?} is not a mail address ({e})")))
    };
    let mut builder = Message::builder()
        .from(mailbox(smtp.from)?)
        .subject(message::title(event))
        .header(ContentType::TEXT_PLAIN);
    for to in smtp.to {
        builder = builder.to(mailbox(to)?);
    }
    let mail = builder
        .body(message::body(event))
        .map_err(|e| invalid(format!("cannot compose the mail ({e})")))?;

    let server = format!("{}:{}", smtp.host, smtp.port);
    let transport = match smtp.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(smtp.host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(smtp.host),
        SmtpTls::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            smtp.host,
        )),
    }
    .map_err(|e| invalid(format!("cannot use the smtp server {server} ({e})")))?;
    let mut transport = transport.port(smtp.port).timeout(Some(timeout));
    let mut password = None;
    match (smtp.password, smtp.username) {
        (Some(source), username) => {
            let secret = crate::secret::read(source, &format!("channel {channel}: smtp password"))
                .map_err(|e| DeliveryError::new(DeliveryErrorKind::Secret, e.to_string()))?;
            let text = String::from_utf8(secret.expose().to_vec()).map_err(|_| {
                DeliveryError::new(
                    DeliveryErrorKind::Secret,
                    format!("channel {channel}: the smtp password is not UTF-8 text"),
                )
            })?;
            let user = username.unwrap_or(smtp.from).to_string();
            transport = transport.credentials(Credentials::new(user, text));
            password = Some(secret);
        }
        (None, Some(_)) => {
            return Err(invalid(
                "smtp_username is set but no password; add password_file, password_command \
                 or password_env"
                    .into(),
            ))
        }
        (None, None) => {}
    }
    let response = transport.build().send(mail).await.map_err(|e| {
        let kind = if e.is_permanent() || e.is_tls() || e.is_client() {
            DeliveryErrorKind::Refused
        } else if e.is_transient() {
            DeliveryErrorKind::Transient
        } else {
            DeliveryErrorKind::Unreachable
        };
        let error = DeliveryError::new(
            kind,
            format!("channel {channel}: smtp server {server}: {}", one_line(&e)),
        );
        match &password {
            Some(secret) => error.without(secret.expose()),
            None => error,
        }
    })?;
    Ok(format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}

fn one_line(error: &lettre::transport::smtp::Error) -> String {
    error.to_string().replace(['\r', '\n'], " ")
}
