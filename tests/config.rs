//! Configuration loading through figment's `Jail` (an isolated working directory and
//! environment per test).
// `Jail` fixes the closures' error type to figment's own, which is large; nothing to do about it.
#![allow(clippy::result_large_err)]

use std::path::Path;
use std::time::Duration;

use figment::Jail;
use journeyd::config::{Config, ConfigError, Credentials, Grant, LogFormat, Region};

fn load(file: Option<&str>) -> Result<Config, ConfigError> {
    Config::load(file.map(Path::new))
}

fn error_text(result: Result<Config, ConfigError>) -> String {
    result
        .expect_err("configuration should be refused")
        .to_string()
}

#[test]
fn the_file_sets_values_and_defaults_fill_the_rest() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "journeyd.toml",
            r#"
            [database]
            url = "sqlite:/var/lib/journeyd/journeyd.db"
            [api]
            region = "au"
            [auth]
            grant = "client_credentials"
            client_id = "my-client"
            client_secret = "from-file"
            [poll]
            initial_interval = "2s"
            max_interval = "10m"
            terminal_statuses = ["Completed", "Failed", "Error", "Abandoned"]
            [log]
            format = "pretty"
            "#,
        )?;
        let config = load(Some("journeyd.toml")).unwrap();
        assert_eq!(config.database.url, "sqlite:/var/lib/journeyd/journeyd.db");
        assert_eq!(config.api.region, Some(Region::Au));
        assert_eq!(config.poll.initial_interval, Duration::from_secs(2));
        assert_eq!(config.poll.max_interval, Duration::from_secs(600));
        assert_eq!(config.poll.multiplier, 2.0, "default");
        assert_eq!(config.poll.scan_interval, Duration::from_secs(1), "default");
        assert_eq!(config.log.format, Some(LogFormat::Pretty));
        assert!(config.policy().terminal.contains("ABANDONED"));
        let daemon = config.daemon().unwrap();
        assert_eq!(
            daemon.base_urls.v1.host_str(),
            Some("au.platform.go.gbgplc.com")
        );
        assert!(matches!(
            daemon.credentials,
            Credentials::ClientCredentials { ref scope, .. } if scope == "gbg.token"
        ));
        Ok(())
    });
}

#[test]
fn environment_variables_override_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "journeyd.toml",
            "[poll]\nconcurrency = 4\n[auth]\nclient_secret = \"from-file\"\n",
        )?;
        jail.set_env("JOURNEYD_POLL__CONCURRENCY", "32");
        jail.set_env("JOURNEYD_AUTH__CLIENT_SECRET", "from-env");
        jail.set_env("JOURNEYD_DATABASE__URL", "sqlite:other.db");
        jail.set_env("JOURNEYD_API__REQUEST_TIMEOUT", "1m 30s");
        jail.set_env("JOURNEYD_LEASE__TTL", "3m");
        jail.set_env("JOURNEYD_CONFIG", "ignored-here.toml");
        let config = load(Some("journeyd.toml")).unwrap();
        assert_eq!(config.poll.concurrency, 32);
        assert_eq!(config.auth.client_secret.unwrap().expose(), "from-env");
        assert_eq!(config.database.url, "sqlite:other.db");
        assert_eq!(config.api.request_timeout, Duration::from_secs(90));
        Ok(())
    });
}

#[test]
fn a_missing_key_is_named() {
    Jail::expect_with(|jail| {
        let config = load(None).unwrap();
        let missing_region = config.daemon().unwrap_err().to_string();
        assert!(missing_region.contains("`api.region`"), "{missing_region}");

        jail.set_env("JOURNEYD_API__REGION", "eu");
        jail.set_env("JOURNEYD_AUTH__CLIENT_ID", "me");
        jail.set_env("JOURNEYD_AUTH__CLIENT_SECRET", "s");
        jail.set_env("JOURNEYD_AUTH__USERNAME", "user");
        let missing_password = load(None).unwrap().daemon().unwrap_err().to_string();
        assert_eq!(
            missing_password,
            "missing configuration: `auth.password` must be set \
             (or `auth.password_file`, or JOURNEYD_AUTH__PASSWORD)"
        );
        Ok(())
    });
}

#[test]
fn invalid_values_are_refused_with_their_key() {
    Jail::expect_with(|jail| {
        let cases = [
            (
                "JOURNEYD_POLL__INITIAL_INTERVAL",
                "soon",
                "poll.initial_interval",
            ),
            ("JOURNEYD_POLL__MULTIPLIER", "0.5", "poll.multiplier"),
            ("JOURNEYD_POLL__CONCURRENCY", "0", "poll.concurrency"),
            ("JOURNEYD_POLL__JITTER", "1.5", "poll.jitter"),
            ("JOURNEYD_POLL__SCAN_INTERVAL", "0s", "poll.scan_interval"),
            ("JOURNEYD_API__REGION", "mars", "api.region"),
            (
                "JOURNEYD_API__BASE_URL",
                "ftp://example.com",
                "api.base_url",
            ),
            ("JOURNEYD_AUTH__GRANT", "implicit", "auth.grant"),
            (
                "JOURNEYD_DATABASE__URL",
                "mysql://db/journeys",
                "database.url",
            ),
            ("JOURNEYD_DATABASE__URL", "sqlite::memory:", "database.url"),
            ("JOURNEYD_LOG__LEVEL", "info,=[", "log.level"),
            ("JOURNEYD_POLL__INTERVAL", "5s", "interval"),
            (
                "JOURNEYD_API__MAX_RESPONSE_BYTES",
                "100",
                "api.max_response_bytes",
            ),
            (
                "JOURNEYD_HTTP__MAX_CONNECTIONS",
                "0",
                "http.max_connections",
            ),
            ("JOURNEYD_HTTP__HEADER_TIMEOUT", "0s", "http.header_timeout"),
            ("JOURNEYD_HTTP__IDLE_TIMEOUT", "0s", "http.idle_timeout"),
            (
                "JOURNEYD_DATABASE__BUSY_TIMEOUT",
                "0s",
                "database.busy_timeout",
            ),
        ];
        for (var, value, key) in cases {
            jail.clear_env();
            jail.set_env(var, value);
            let message = error_text(load(None));
            assert!(
                message.contains(key),
                "{var}={value}: {message:?} should name {key}"
            );
        }
        Ok(())
    });
}

#[test]
fn a_bad_file_is_refused() {
    Jail::expect_with(|jail| {
        let missing = error_text(load(Some("nowhere.toml")));
        assert!(missing.contains("nowhere.toml"), "{missing}");

        jail.create_file("typo.toml", "[pol]\nconcurrency = 4\n")?;
        let typo = error_text(load(Some("typo.toml")));
        assert!(typo.contains("pol"), "{typo}");

        jail.create_file("broken.toml", "[poll\n")?;
        let broken = error_text(load(Some("broken.toml")));
        assert!(broken.contains("broken.toml"), "{broken}");
        Ok(())
    });
}

#[test]
fn secrets_can_come_from_files_and_are_never_shown() {
    Jail::expect_with(|jail| {
        jail.create_file("client_secret", "s3cr3t-from-credential\n")?;
        jail.create_file("password", "pa55word")?;
        jail.set_env("JOURNEYD_API__REGION", "eu");
        jail.set_env("JOURNEYD_AUTH__CLIENT_ID", "me");
        jail.set_env("JOURNEYD_AUTH__USERNAME", "user");
        jail.set_env("JOURNEYD_AUTH__CLIENT_SECRET_FILE", "client_secret");
        jail.set_env("JOURNEYD_AUTH__PASSWORD_FILE", "password");
        let config = load(None).unwrap();
        assert_eq!(config.auth.grant, Grant::Password);
        let Credentials::Password {
            client_secret,
            password,
            ..
        } = config.daemon().unwrap().credentials
        else {
            panic!("password grant expected")
        };
        assert_eq!(client_secret.expose(), "s3cr3t-from-credential");
        assert_eq!(password.expose(), "pa55word");

        let shown = format!(
            "{config:?} {:?} {}",
            config.daemon().unwrap(),
            toml::to_string(&config).unwrap()
        );
        for secret in ["s3cr3t-from-credential", "pa55word"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("[redacted]"));

        jail.set_env("JOURNEYD_AUTH__PASSWORD", "inline-too");
        let both = error_text(load(None));
        assert!(
            both.contains("`auth.password` and `auth.password_file`"),
            "{both}"
        );
        assert!(!both.contains("inline-too"));

        // Digits stay the string they are, leading zero included, and are never repeated.
        jail.clear_env();
        jail.set_env("JOURNEYD_API__REGION", "eu");
        jail.set_env("JOURNEYD_AUTH__CLIENT_ID", "me");
        jail.set_env("JOURNEYD_AUTH__USERNAME", "user");
        jail.set_env("JOURNEYD_AUTH__CLIENT_SECRET", "0123");
        jail.set_env("JOURNEYD_AUTH__PASSWORD", "true");
        let Credentials::Password {
            client_secret,
            password,
            ..
        } = load(None).unwrap().daemon().unwrap().credentials
        else {
            panic!("password grant expected")
        };
        assert_eq!(client_secret.expose(), "0123");
        assert_eq!(password.expose(), "true");
        jail.clear_env();
        jail.create_file("numeric.toml", "[auth]\npassword = 987654\n")?;
        let bare_number = error_text(load(Some("numeric.toml")));
        assert!(bare_number.contains("auth.password"), "{bare_number}");
        assert!(!bare_number.contains("987654"), "{bare_number}");

        jail.clear_env();
        jail.set_env("JOURNEYD_AUTH__CLIENT_SECRET_FILE", "no-such-file");
        let unreadable = error_text(load(None));
        assert!(
            unreadable.contains("auth.client_secret_file"),
            "{unreadable}"
        );
        Ok(())
    });
}

#[test]
fn the_commented_example_is_valid_and_matches_the_defaults() {
    Jail::expect_with(|_| {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/journeyd.toml");
        let config = Config::load(Some(&example)).unwrap();
        assert_eq!(config, Config::default());
        Ok(())
    });
}

#[test]
fn a_postgres_url_selects_postgres_and_a_bad_one_is_named_without_its_password() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "JOURNEYD_DATABASE__URL",
            "postgres://journeyd@db.internal/journeyd",
        );
        load(None).unwrap();
        jail.set_env(
            "JOURNEYD_DATABASE__URL",
            "postgres://journeyd:hunter2@db.internal:notaport/journeyd",
        );
        let message = error_text(load(None));
        assert!(message.contains("`database.url`"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        Ok(())
    });
}

#[test]
fn a_database_password_is_never_shown() {
    Jail::expect_with(|jail| {
        jail.set_env(
            "JOURNEYD_DATABASE__URL",
            "postgres://journeyd:hunter2@db.internal:5432/journeyd",
        );
        let config = load(None).unwrap();
        assert_eq!(
            config.database.url,
            "postgres://journeyd:hunter2@db.internal:5432/journeyd"
        );
        let shown = format!("{config:?} {}", toml::to_string(&config).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("postgres://journeyd:%5Bredacted%5D@db.internal:5432/journeyd")
                || shown.contains("postgres://journeyd:[redacted]@db.internal:5432/journeyd"),
            "{shown}"
        );
        Ok(())
    });
}
