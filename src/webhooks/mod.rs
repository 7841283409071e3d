//! Webhooks: journeyd tells the application's systems when a journey changes, because GBG GO
//! cannot. Events are written to an outbox in journeyd's own database in the same transaction
//! as the change they describe (see [`crate::storage::outbox`]), then sent, signed per the
//! Standard Webhooks specification, at least once to every endpoint that wants them, each
//! journey's in order.

mod attempt;
mod endpoint;
pub mod payload;
pub mod retry;
mod sender;
mod signature;

pub use attempt::{Sent, client, send};
pub use endpoint::{DeliverySettings, Endpoint, default_name};
pub use sender::Sender;
pub use signature::{WebhookSecret, signature_header};
