//! The fake GBG GO in a child process of its own, and the raw limit a plain reqwest loop reaches
//! against it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journeyd::clock::SystemClock;
use journeyd::config::Credentials;
use journeyd::simulator::{FaultRates, Script, Simulator, SimulatorConfig};

use super::basics::{CONCURRENCY, option, runtime};
use super::common;

/// Serves the simulator until standard input closes. Unknown journeys are welcome: each
/// follows the script from its first fetch (`InProgress` for ever, or `Completed` after
/// `--complete-after N` polls). `--oversized-bytes N`: every answer is N bytes long.
pub(super) fn fake(args: &[String]) {
    let complete_after: u32 = option(args, "--complete-after").map_or(0, |n| n.parse().unwrap());
    let oversized_bytes: Option<usize> =
        option(args, "--oversized-bytes").map(|n| n.parse().unwrap());
    let script = if complete_after == 0 {
        Script::polls(&[("InProgress", 0)])
    } else {
        Script::polls(&[("InProgress", complete_after - 1), ("Completed", 0)])
    };
    runtime().block_on(async {
        let sim = Simulator::start(
            SimulatorConfig {
                token_lifetime: Duration::from_secs(3_600),
                unknown_journeys: Some(script),
                ..SimulatorConfig::default()
            },
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        if let Some(bytes) = oversized_bytes {
            sim.set_fault_rates(FaultRates {
                oversized: 1.0,
                oversized_bytes: bytes,
                ..FaultRates::default()
            });
        }
        println!("{} {}", sim.base_url(), sim.token_url());
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()))
            .await
            .ok();
    });
}

pub(super) struct Fake {
    pub(super) child: Child,
    pub(super) urls: common::FakeUrls,
}

impl Fake {
    /// A fake GBG GO in a process of its own, started with `args`.
    pub(super) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("fake")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut urls = line.split_whitespace().map(str::to_owned);
        Self {
            urls: common::FakeUrls {
                base_url: urls.next().unwrap(),
                token_url: urls.next().unwrap(),
            },
            child,
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Requests per second a plain reqwest loop gets from the fake at journeyd's concurrency.
pub(super) fn raw_limit(fake: &Fake, seconds: u64) -> f64 {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let Credentials::Password {
            client_id,
            client_secret,
            username,
            password,
        } = common::credentials()
        else {
            unreachable!()
        };
        let token: serde_json::Value = client
            .post(&fake.urls.token_url)
            .form(&[
                ("grant_type", "password"),
                ("client_id", &client_id),
                ("client_secret", client_secret.expose()),
                ("username", &username),
                ("password", password.expose()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let url = format!("{}/journey/state/fetch", fake.urls.base_url);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|worker| {
                let (client, token, url) = (client.clone(), token.clone(), url.clone());
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        let body = serde_json::json!({
                            "instanceId": format!("raw-{worker}-{}", done % 1_000)
                        });
                        let response = client
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await
                            .unwrap();
                        assert!(response.status().is_success());
                        response.bytes().await.unwrap();
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let started = Instant::now();
        let mut total = 0;
        for worker in workers {
            total += worker.await.unwrap();
        }
        total as f64 / started.elapsed().as_secs_f64()
    })
}
