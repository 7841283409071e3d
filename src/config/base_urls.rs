//! Where each GBG GO API version is served: one base configured, the other derived from it.

use reqwest::Url;

use crate::journey::ApiVersion;

/// Where each API version's endpoints are: its base, up to and including `/captain/api` (v1)
/// or `/v2/captain` (v2).
#[derive(Debug, Clone, PartialEq)]
pub struct BaseUrls {
    pub v1: Url,
    pub v2: Url,
}

impl BaseUrls {
    /// From the base of `version`: the other version is on the same host, under its own path
    /// (in place of `version`'s path, so that a prefix before it is kept; in place of the whole
    /// path when there is no such path).
    pub fn from_base(base: Url, version: ApiVersion) -> Self {
        let path = base.path().trim_end_matches('/');
        let prefix = path.strip_suffix(version_path(version)).unwrap_or("");
        let mut other = base.clone();
        other.set_path(&format!("{prefix}{}", version_path(other_version(version))));
        match version {
            ApiVersion::V1 => Self {
                v1: base,
                v2: other,
            },
            ApiVersion::V2 => Self {
                v1: other,
                v2: base,
            },
        }
    }

    pub fn get(&self, version: ApiVersion) -> &Url {
        match version {
            ApiVersion::V1 => &self.v1,
            ApiVersion::V2 => &self.v2,
        }
    }
}

/// The path of each version's base on GBG GO's regional hosts.
pub fn version_path(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V1 => "/captain/api",
        ApiVersion::V2 => "/v2/captain",
    }
}

fn other_version(version: ApiVersion) -> ApiVersion {
    match version {
        ApiVersion::V1 => ApiVersion::V2,
        ApiVersion::V2 => ApiVersion::V1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_version_is_on_the_same_host_under_its_own_path() {
        let v1 = |base: &str| BaseUrls::from_base(base.parse().unwrap(), ApiVersion::V1);
        let urls = v1("https://eu.platform.go.gbgplc.com/captain/api");
        assert_eq!(
            urls.v2.as_str(),
            "https://eu.platform.go.gbgplc.com/v2/captain"
        );
        let proxied = v1("http://127.0.0.1:8080/gbg/captain/api/");
        assert_eq!(proxied.v2.as_str(), "http://127.0.0.1:8080/gbg/v2/captain");
        let elsewhere = v1("http://gateway.internal/journeys");
        assert_eq!(elsewhere.v2.as_str(), "http://gateway.internal/v2/captain");
        let v2 = BaseUrls::from_base(
            "https://au.platform.go.gbgplc.com/v2/captain"
                .parse()
                .unwrap(),
            ApiVersion::V2,
        );
        assert_eq!(
            v2.v1.as_str(),
            "https://au.platform.go.gbgplc.com/captain/api"
        );
        assert_eq!(
            v2.get(ApiVersion::V2).as_str(),
            "https://au.platform.go.gbgplc.com/v2/captain"
        );
    }
}
