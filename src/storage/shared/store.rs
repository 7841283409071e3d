//! [`Store`](crate::storage::Store) for both backends from one macro: the methods that are the
//! same on both are written here once, over each backend's `transaction()` (a write session)
//! and `reader()` (the pool reads go through); each backend hands in the methods it writes its
//! own way. One macro rather than a blanket impl: a trait object needs `#[async_trait]`, which
//! must see every method of the impl at once.

/// `impl Store for $store` on database `$db`, with the shared methods and `{ $own }`; a claim
/// reads `$claimed` rows (each backend's timestamps), the stuck check runs the backend's
/// renderings of the two marking statements, `($by_age, $by_status)`.
macro_rules! store_impl {
    (
        $store:ty,
        $db:ty,
        claimed: $claimed:ty,
        mark_stuck: ($by_age:expr, $by_status:expr),
        { $($own:tt)* }
    ) => {
        #[async_trait::async_trait]
        impl $crate::storage::Store for $store {
            async fn heartbeat(
                &self,
                owner: &str,
                now: $crate::clock::Timestamp,
                lease_until: $crate::clock::Timestamp,
                alive_after: $crate::clock::Timestamp,
                in_flight: &[&str],
            ) -> Result<u64, $crate::storage::StoreError> {
                let mut session = self.transaction("renewing leases").await?;
                let conn = session.conn();
                let alive = $crate::storage::shared::heartbeat::<$db>(
                    conn, owner, now, lease_until, alive_after, in_flight,
                )
                .await;
                session.finish(alive).await
            }

            async fn enqueue(
                &self,
                ids: &[$crate::journey::InstanceId],
                api_version: Option<$crate::journey::ApiVersion>,
                now: $crate::clock::Timestamp,
            ) -> Result<$crate::storage::Enqueued, $crate::storage::StoreError> {
                let mut session = self.transaction("enqueueing journeys").await?;
                let added =
                    $crate::storage::shared::enqueue::<$db>(session.conn(), ids, api_version, now)
                        .await;
                Ok($crate::storage::Enqueued::of(ids, session.finish(added).await?))
            }

            async fn record(
                &self,
                owner: &str,
                updates: &[$crate::journey::JourneyUpdate],
            ) -> Result<Vec<bool>, $crate::storage::StoreError> {
                let mut session = self.transaction("recording poll results").await?;
                let applied =
                    $crate::storage::shared::record::<$db>(session.conn(), owner, updates).await;
                let applied = session.finish(applied).await?;
                $crate::storage::outbox::wake_sender(&self.outbox_notify, updates);
                Ok(applied)
            }

            async fn recorded(
                &self,
                updates: &[$crate::journey::JourneyUpdate],
            ) -> Result<Vec<bool>, $crate::storage::StoreError> {
                let mut conn = self.reader().acquire().await?;
                Ok($crate::storage::shared::recorded::<$db>(&mut conn, updates).await?)
            }

            fn write_health(&self) -> &$crate::storage::WriteHealth {
                &self.health
            }

            fn webhooks(&self) -> &dyn $crate::storage::WebhookStore {
                self
            }

            async fn release(&self, owner: &str) -> Result<u64, $crate::storage::StoreError> {
                let mut session = self.transaction("releasing leases").await?;
                let released = $crate::storage::shared::release::<$db>(session.conn(), owner).await;
                session.finish(released).await
            }

            async fn totals(
                &self,
                errors_since: $crate::clock::Timestamp,
            ) -> Result<$crate::storage::JourneyTotals, $crate::storage::StoreError> {
                let mut conn = self.reader().acquire().await?;
                Ok($crate::storage::shared::totals::<$db>(&mut conn, errors_since).await?)
            }

            async fn abandon(
                &self,
                ids: &[&str],
                now: $crate::clock::Timestamp,
                detail: &str,
            ) -> Result<Vec<$crate::storage::Abandoned>, $crate::storage::StoreError> {
                let mut session = self.transaction("stopping journeys").await?;
                let abandoned =
                    $crate::storage::shared::abandon::<$db>(session.conn(), ids, now, detail).await;
                let abandoned = session.finish(abandoned).await?;
                self.outbox_notify.notify_one();
                Ok(abandoned)
            }

            async fn prunable(
                &self,
                stopped_before: $crate::clock::Timestamp,
            ) -> Result<$crate::storage::Prunable, $crate::storage::StoreError> {
                let counts: Vec<(i64, i64)> =
                    $crate::storage::dialect::Binder::<$db>::new($crate::storage::sql::PRUNABLE)
                        .time(Some(stopped_before))
                        .fetch_as(self.reader())
                        .await?;
                let (journeys, transitions) = counts.first().copied().unwrap_or_default();
                Ok($crate::storage::Prunable {
                    journeys,
                    transitions,
                })
            }

            async fn retain(
                &self,
                action: $crate::storage::Retention,
                stopped_before: $crate::clock::Timestamp,
                batch: u32,
            ) -> Result<u64, $crate::storage::StoreError> {
                let mut session = self.write_autocommit(action.operation()).await?;
                let conn = session.conn();
                let touched =
                    $crate::storage::shared::retain::<$db>(conn, action, stopped_before, batch)
                        .await;
                session.finish(touched).await
            }

            async fn claim_due(
                &self,
                owner: &str,
                now: $crate::clock::Timestamp,
                lease_until: $crate::clock::Timestamp,
                limit: usize,
                default_version: $crate::journey::ApiVersion,
            ) -> Result<Vec<$crate::storage::Claim>, $crate::storage::StoreError> {
                use $crate::storage::dialect::Dialect;
                let operation = "claiming due journeys";
                let mut session = if <$db as Dialect>::CLAIM.in_one_transaction {
                    self.transaction(operation).await?
                } else {
                    self.write_autocommit(operation).await?
                };
                let rows = $crate::storage::shared::claim::<$db, $claimed>(
                    session.conn(),
                    owner,
                    now,
                    lease_until,
                    limit,
                    default_version,
                )
                .await;
                let rows = session.finish(rows).await?;
                let mut claims: Vec<$crate::storage::Claim> =
                    rows.into_iter().map($crate::storage::Claim::from).collect();
                // RETURNING gives no order guarantee; poll the longest-waiting first.
                claims.sort_by_key(|claim| claim.due_at);
                Ok(claims)
            }

            async fn ping(&self) -> Result<(), $crate::storage::StoreError> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn mark_stuck(
                &self,
                now: $crate::clock::Timestamp,
                rules: &$crate::storage::StuckRules,
            ) -> Result<Vec<$crate::storage::NewlyStuck>, $crate::storage::StoreError> {
                let mut session = self.transaction("marking stuck journeys").await?;
                let statements = ($by_age, $by_status);
                let stuck =
                    $crate::storage::shared::mark_stuck::<$db>(session.conn(), statements, now, rules)
                        .await;
                let stuck = session.finish(stuck).await?;
                if !stuck.is_empty() {
                    self.outbox_notify.notify_one();
                }
                Ok(stuck)
            }

            $($own)*
        }
    };
}

pub(in crate::storage) use store_impl;
