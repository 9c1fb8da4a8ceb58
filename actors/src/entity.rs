//! The entity actor: one per asset. It owns the asset's [`EntityLive`] state, applies validated
//! readings through [`EntityLive::apply_reading`], and publishes a delta only when the state
//! changed.
//!
//! Panic isolation: a reading is applied inside `catch_unwind` to a copy of the state; the copy
//! replaces the state only when the apply returned. A panicking handler therefore leaves the
//! actor running with its last good state; the panic is logged with the entity id and counted.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::{Actor, Context, Handler, Message};
use twin_core::Reading;
use twin_core::live::{Delta, EntityLive};

use crate::shared::{FeedEvent, Shared};

/// Mailbox capacity of an entity actor: senders wait (backpressure) beyond it.
pub const MAILBOX: usize = 64;

pub struct EntityActor {
    index: usize,
    live: EntityLive,
    shared: Arc<Shared>,
}

impl EntityActor {
    pub fn new(index: usize, live: EntityLive, shared: Arc<Shared>) -> EntityActor {
        EntityActor {
            index,
            live,
            shared,
        }
    }
}

impl Actor for EntityActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

/// Apply one validated reading.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Apply(pub Reading);

/// Replace the state wholesale (a shard adopted from another node's snapshot); the whole new
/// state goes out as one delta.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetState(pub EntityLive);

/// Ask for a copy of the state (snapshots, queries).
#[derive(Message)]
#[rtype(result = "EntityLive")]
pub struct GetState;

impl EntityActor {
    /// Tell the network models and the feed what changed.
    fn publish(&self, delta: Delta) {
        let shared = &self.shared;
        let entity = &shared.city.entities()[self.index];
        shared.counters.deltas.fetch_add(1, Ordering::Relaxed);
        shared.networks.inject(self.index, entity, &delta);
        // No subscriber is not an error: the feed is optional.
        let _ = shared.feed.send(FeedEvent::Delta {
            entity: self.index,
            delta: Arc::new(delta),
        });
    }

    fn apply(&mut self, reading: &Reading) {
        let shared = &self.shared;
        let entity = &shared.city.entities()[self.index];
        let apply = shared.apply;
        let mut next = self.live.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| apply(&mut next, entity, reading)));
        match outcome {
            Ok(delta) => {
                self.live = next;
                shared.counters.applied.fetch_add(1, Ordering::Relaxed);
                if let Some(delta) = delta {
                    self.publish(delta);
                }
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                shared.counters.panics.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    entity = %entity.id,
                    panic = %what,
                    "entity actor panicked applying a reading; restarted from its last state"
                );
            }
        }
    }
}

impl Handler<Apply> for EntityActor {
    type Result = ();

    fn handle(&mut self, msg: Apply, _: &mut Context<Self>) {
        self.apply(&msg.0);
    }
}

impl Handler<SetState> for EntityActor {
    type Result = ();

    fn handle(&mut self, msg: SetState, _: &mut Context<Self>) {
        self.live = msg.0;
        self.publish(self.live.full_delta());
    }
}

impl Handler<GetState> for EntityActor {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.live.clone())
    }
}
