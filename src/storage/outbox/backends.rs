//! [`WebhookStore`] for both backends, written once: each backend lends its write transaction
//! and its read pool, the statements and their binding are shared.

use async_trait::async_trait;

use super::super::dialect::Binder;
use super::super::{PostgresStore, SqliteStore, StoreError};
use super::{
    AttemptFilter, AttemptRecord, AttemptRow, DisabledEndpoint, DueDelivery, EndpointRow,
    EndpointStatus, Replay, WebhookStore, shared, sql,
};
use crate::clock::Timestamp;

macro_rules! webhook_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl WebhookStore for $store {
            async fn sync_endpoints(&self, endpoints: &[EndpointRow]) -> Result<(), StoreError> {
                let mut session = self.transaction("writing the webhook endpoints").await?;
                let synced = shared::sync_endpoints::<$db>(session.conn(), endpoints).await;
                session.finish(synced).await
            }

            async fn claim_deliveries(
                &self,
                owner: &str,
                now: Timestamp,
                lease_until: Timestamp,
                limit: usize,
            ) -> Result<Vec<DueDelivery>, StoreError> {
                let mut session = self.transaction("claiming webhook deliveries").await?;
                let due =
                    shared::claim::<$db>(session.conn(), owner, now, lease_until, limit).await;
                session.finish(due).await
            }

            async fn record_attempts(
                &self,
                owner: &str,
                attempts: &[AttemptRecord],
                now: Timestamp,
                failing_since_before: Timestamp,
            ) -> Result<Vec<DisabledEndpoint>, StoreError> {
                let mut session = self.transaction("recording webhook attempts").await?;
                let conn = session.conn();
                let disabled = shared::record_attempts::<$db>(
                    conn,
                    owner,
                    attempts,
                    now,
                    failing_since_before,
                )
                .await;
                let disabled = session.finish(disabled).await?;
                // A delivered event lets its journey's next one go.
                self.outbox_notify.notify_one();
                Ok(disabled)
            }

            async fn next_delivery_at(
                &self,
                now: Timestamp,
            ) -> Result<Option<Timestamp>, StoreError> {
                let next = Binder::<$db>::new(sql::NEXT_DELIVERY)
                    .time(Some(now))
                    .fetch_as::<_, (Timestamp,)>(self.reader())
                    .await?;
                Ok(next.first().map(|(at,)| *at))
            }

            async fn endpoints(&self) -> Result<Vec<EndpointStatus>, StoreError> {
                Ok(Binder::<$db>::new(sql::ENDPOINTS)
                    .fetch_as(self.reader())
                    .await?)
            }

            async fn attempts(
                &self,
                filter: &AttemptFilter,
            ) -> Result<Vec<AttemptRow>, StoreError> {
                Ok(Binder::<$db>::new(sql::ATTEMPTS)
                    .text(filter.endpoint.as_deref())
                    .text(filter.instance_id.as_deref())
                    .int(Some(filter.limit))
                    .fetch_as(self.reader())
                    .await?)
            }

            async fn replay(&self, replay: &Replay, now: Timestamp) -> Result<u64, StoreError> {
                let mut session = self.transaction("replaying webhook events").await?;
                let queued = shared::replay::<$db>(session.conn(), replay, now).await;
                let queued = session.finish(queued).await?;
                self.outbox_notify.notify_one();
                Ok(queued)
            }

            async fn enable_endpoint(&self, name: &str) -> Result<bool, StoreError> {
                let mut session = self.transaction("enabling a webhook endpoint").await?;
                let enabled = Binder::<$db>::new(sql::ENABLE_ENDPOINT)
                    .text(Some(name))
                    .execute(session.conn())
                    .await;
                Ok(session.finish(enabled).await? > 0)
            }

            async fn outbox_written(&self) {
                self.outbox_notify.notified().await;
            }
        }
    };
}

webhook_store!(SqliteStore, sqlx::Sqlite);
webhook_store!(PostgresStore, sqlx::Postgres);
