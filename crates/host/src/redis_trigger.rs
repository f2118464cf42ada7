//! Spin's Redis trigger as Spin 4.0.2 runs it (`crates/trigger-redis`): the
//! address (`[application.trigger.redis]` or the trigger's own) and the
//! channel are templates over application variables; one subscriber
//! connection per server; messages are handled one at a time, in order, each
//! by a fresh instance of every component subscribed to its channel, which
//! exports `fermyon:spin/inbound-redis` (`handle-message`). A failing handler
//! is logged and the next message is taken: Redis pub/sub delivers at most
//! once, and a message published while no subscriber listens is lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use wasmtime::component::Val;

use crate::app::App;

/// `<server address> -> <channel> -> <component ids>`.
type Subscriptions = BTreeMap<String, BTreeMap<String, Vec<String>>>;

impl App {
    /// Whether the manifest has Redis triggers.
    pub fn has_redis_triggers(&self) -> bool {
        !self.manifest().redis_triggers.is_empty()
    }

    fn redis_subscriptions(&self) -> Result<Subscriptions> {
        let manifest = self.manifest();
        let default_address = manifest.application.trigger.redis.as_ref();
        let mut subscriptions = Subscriptions::new();
        for trigger in &manifest.redis_triggers {
            let address = trigger
                .address
                .as_deref()
                .or(default_address.map(|d| d.address.as_str()))
                .context("a Redis trigger without an address")?;
            let address = self.variables.expand(address).with_context(|| {
                format!(
                    "failed to resolve redis trigger address for component {}",
                    trigger.component
                )
            })?;
            let channel = self.variables.expand(&trigger.channel).with_context(|| {
                format!(
                    "failed to resolve redis trigger channel for component {}",
                    trigger.component
                )
            })?;
            subscriptions
                .entry(address)
                .or_default()
                .entry(channel)
                .or_default()
                .push(trigger.component.clone());
        }
        Ok(subscriptions)
    }

    /// Runs `component`'s `handle-message` on a fresh instance.
    pub async fn handle_redis_message(&self, component: &str, payload: Vec<u8>) -> Result<()> {
        let loaded = self
            .components
            .get(component)
            .with_context(|| format!("unknown component {component:?}"))?;
        let mut store = self.new_store(loaded);
        let instance = loaded.instance_pre.instantiate_async(&mut store).await?;
        let interface = instance
            .get_export_index(&mut store, None, "fermyon:spin/inbound-redis")
            .with_context(|| {
                format!("component {component:?} does not export fermyon:spin/inbound-redis")
            })?;
        let func = instance
            .get_export_index(&mut store, Some(&interface), "handle-message")
            .and_then(|index| instance.get_func(&mut store, index))
            .context("inbound-redis has no handle-message")?;
        let message = Val::List(payload.into_iter().map(Val::U8).collect());
        let mut results = [Val::Bool(false)];
        func.call_async(&mut store, &[message], &mut results)
            .await?;
        match &results[0] {
            Val::Result(Ok(_)) => Ok(()),
            Val::Result(Err(_)) => bail!("Redis handler returned an error"),
            other => bail!("handle-message returned {other:?}"),
        }
    }
}

/// Subscribes to every Redis trigger's channel and runs its components,
/// until a subscriber's connection ends (an error, as in Spin).
pub async fn run_redis_triggers(app: Arc<App>) -> Result<()> {
    let mut subscribers = Vec::new();
    for (address, channels) in app.redis_subscriptions()? {
        subscribers.push(tokio::spawn(subscribe(app.clone(), address, channels)));
    }
    let (finished, _, _) = futures::future::select_all(subscribers).await;
    finished?
}

async fn subscribe(
    app: Arc<App>,
    address: String,
    channels: BTreeMap<String, Vec<String>>,
) -> Result<()> {
    let client = redis::Client::open(address.as_str())?;
    let server = client.get_connection_info().addr.to_string();
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .with_context(|| format!("Redis trigger failed to connect to {server}"))?;
    println!("Active Channels on {server}:");
    for (channel, components) in &channels {
        pubsub.subscribe(channel).await.with_context(|| {
            format!("Redis trigger failed to subscribe to channel {channel:?} on {server}")
        })?;
        println!("\t{server}/{channel}: [{}]", components.join(","));
    }
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let channel = message.get_channel_name().to_owned();
        let Some(components) = channels.get(&channel) else {
            tracing::error!("message from unexpected channel {channel:?}");
            continue;
        };
        let payload = message.get_payload_bytes().to_vec();
        let handlers = components
            .iter()
            .map(|component| app.handle_redis_message(component, payload.clone()));
        for (component, outcome) in components
            .iter()
            .zip(futures::future::join_all(handlers).await)
        {
            if let Err(e) = outcome {
                tracing::info!("Component {component} handler failed: {e:#}");
            }
        }
    }
    bail!("disconnected from {server}")
}
