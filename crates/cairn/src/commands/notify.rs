//! `cairn notify test NAME`: one test event to one channel, to check it works.
//!
//! One attempt, not the daemon's retries: whoever runs it wants the answer now, and a
//! minute of retries would hide the error. The delivery is recorded like any other, so a
//! channel fixed and tested leaves the "failing channels" of `cairn status`.

use std::sync::Arc;

use anyhow::Result;
use cairn_jobs::notify::{self, Notifier, RetryPolicy};
use cairn_state::StateStore;
use serde_json::json;

use crate::cli::{GlobalArgs, NotifyCommand, NotifyTestArgs};

pub fn run(global: &GlobalArgs, command: NotifyCommand) -> Result<u8> {
    match command {
        NotifyCommand::Test(args) => test(global, args),
    }
}

fn test(global: &GlobalArgs, args: NotifyTestArgs) -> Result<u8> {
    let config = super::load_config(global)?;
    let state = Arc::new(StateStore::open(&config.state_dir)?);
    let notifier = Notifier::new(config.notify.clone(), state).with_policy(RetryPolicy::once());
    let delivery = notify::block_on(notifier.test(&args.name))?;
    if global.json {
        super::print_json(&json!({
            "channel": delivery.channel,
            "kind": delivery.kind,
            "event": delivery.event,
            "delivered": delivery.is_delivered(),
            "attempts": delivery.attempts,
            "answer": delivery.result.as_ref().ok(),
            "error": delivery.result.as_ref().err().map(ToString::to_string),
        }))?;
    } else {
        match &delivery.result {
            Ok(answer) if !global.quiet => println!(
                "{} channel {}: test notification delivered ({answer})",
                delivery.kind, delivery.channel
            ),
            Ok(_) => {}
            Err(error) => eprintln!("cairn: {error}"),
        }
    }
    Ok(if delivery.is_delivered() {
        0
    } else {
        crate::EXIT_FAILURE
    })
}
