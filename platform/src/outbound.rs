//! The one way out: every HTTP request this server makes on its own (an identity provider's
//! discovery document, keys and tokens; federation deliveries to a parent platform) goes
//! through [`Outbound`].
//!
//! Its destinations are set by the operator (`outbound_allow`): with an empty list only public
//! unicast addresses are reachable; loopback, private, link-local (169.254.169.254, the cloud
//! metadata address), shared (CGNAT), multicast, reserved and unspecified addresses, and their
//! IPv6 counterparts, are refused unless the list names them (a host name, an IP address or a
//! CIDR network). The check is made on the addresses connected to, not on the URL's text: a
//! host name is resolved by this module's resolver, which drops the addresses not allowed (so a
//! name that resolves to 127.0.0.1, or changes its answer between two lookups, reaches nothing
//! it may not), and a URL whose host is an IP literal (which is never resolved) is checked
//! before the request is sent, in the form the URL parser normalises it to (`127.1`,
//! `[::ffff:127.0.0.1]` and `2130706433` are all 127.0.0.1). Redirects are never followed,
//! connections and requests time out, answers are read up to a limit, and no proxy from the
//! environment is used (a proxy would connect to addresses this module never sees).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

/// The longest wait for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a request may take unless it asks for less.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read; a longer one is an error.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The longest a configuration-time check waits for a name's addresses.
const CHECK_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// The field message of a configured destination (an SSO issuer, a federation parent) this
/// server may not reach (rule `not_allowed`).
pub const NOT_ALLOWED: &str = "该地址不在本平台允许访问的范围内；内网地址须由平台运维人员加入 outbound_allow 设置";

/// The operator's list of destinations allowed beyond the public internet.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    nets: Vec<IpNet>,
    names: Vec<String>,
    /// `*.example.gov.cn` kept as `.example.gov.cn`.
    suffixes: Vec<String>,
}

impl Allow {
    /// Parses the comma-separated `outbound_allow` setting: IP addresses, CIDR networks, host
    /// names and `*.`-prefixed domains.
    ///
    /// # Errors
    /// The first entry that is none of these.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allow = Self::default();
        for entry in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                allow.nets.push(net.trunc());
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                allow.nets.push(IpNet::from(ip));
            } else if let Some(domain) = entry.strip_prefix("*.") {
                if !is_host_name(domain) {
                    return Err(format!("\"{entry}\" is not a domain like *.example.gov.cn"));
                }
                allow.suffixes.push(format!(".{}", domain.to_ascii_lowercase()));
            } else if is_host_name(entry) {
                allow.names.push(entry.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!("\"{entry}\" is not a host name, IP address or CIDR network"));
            }
        }
        Ok(allow)
    }

    /// Whether the operator listed this host name (every address it resolves to is then
    /// allowed: listing a name trusts its DNS).
    #[must_use]
    pub fn name_listed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.contains(&host) || self.suffixes.iter().any(|s| host.ends_with(s.as_str()))
    }

    /// Whether `ip` may be connected to: a public unicast address, or one in a listed network.
    #[must_use]
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        let plain = unmapped(ip);
        self.nets.iter().any(|n| n.contains(&ip) || n.contains(&plain)) || is_public(ip)
    }
}

/// A host name as DNS writes it (letters, digits, hyphens, dots), with at least one letter so
/// that a mistyped address is not taken for a name.
fn is_host_name(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it reaches.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// IPv4 ranges that are not the public internet (RFC 6890 and its updates).
const V4_SPECIAL: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network", unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // shared address space (CGNAT)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local, cloud metadata
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, broadcast
];

/// IPv6 ranges inside global unicast (2000::/3) that are not reachable hosts of the internet,
/// or that tunnel to IPv4 addresses this check would not see.
const V6_SPECIAL: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32),     // Teredo
    (Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0), 48),   // benchmarking
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28),  // ORCHID
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28),  // ORCHIDv2
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),     // 6to4
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),     // documentation
];

fn within<T: Into<IpAddr> + Copy>(ip: IpAddr, ranges: &[(T, u8)]) -> bool {
    ranges.iter().any(|&(addr, len)| IpNet::new(addr.into(), len).is_ok_and(|n| n.contains(&ip)))
}

/// Whether `ip` is a public unicast address of the internet. IPv6 counts only inside global
/// unicast (2000::/3, so loopback, unique-local fd00::/8, link-local fe80::/10 and multicast
/// are out) minus the special ranges there; an IPv4-mapped or NAT64 (64:ff9b::/96) address
/// counts as the IPv4 address it reaches.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !within(IpAddr::V4(v4), V4_SPECIAL),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let o = v6.octets();
                return is_public(IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15])));
            }
            let global_unicast = (s[0] & 0xe000) == 0x2000;
            global_unicast && !within(ip, V6_SPECIAL)
        }
    }
}

/// Why a request did not get an answer. The texts are for logs; people are shown one
/// "unreachable" sentence whatever happened, so a reply cannot tell a closed port from a live
/// one.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Not an http(s) URL with a host.
    #[error("not an http(s) URL with a host")]
    BadUrl,
    /// The destination is not in `outbound_allow` (nor public).
    #[error("destination not allowed by outbound_allow")]
    NotAllowed,
    /// The answer is longer than the limit.
    #[error("answer longer than {0} bytes")]
    TooLarge(usize),
    /// Connection, TLS, timeout or protocol failure (a refused address ends here too when the
    /// resolver dropped every address of a name).
    #[error("request failed: {0}")]
    Failed(#[from] reqwest::Error),
}

impl OutboundError {
    /// Whether the destination was refused (here or by the resolver, inside reqwest's error).
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = source {
            if matches!(e.downcast_ref::<OutboundError>(), Some(OutboundError::NotAllowed)) {
                return true;
            }
            source = e.source();
        }
        false
    }
}

/// An answer read in full (up to the limit).
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: reqwest::StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// Whether the answer says it is a JSON document (`application/json`, `…+json`).
    #[must_use]
    pub fn is_json(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| {
                let t = t.trim().to_ascii_lowercase();
                t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
            })
    }
}

/// The resolver that drops what may not be reached.
struct Resolver {
    allow: Arc<Allow>,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let listed = allow.name_listed(&host);
            let kept: Vec<SocketAddr> = found.filter(|a| listed || allow.ip_allowed(a.ip())).collect();
            if kept.is_empty() {
                tracing::debug!(host, "outbound: no allowed address for the name");
                return Err(Box::new(OutboundError::NotAllowed) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The allow-listed HTTP client (cheap to clone).
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    allow: Arc<Allow>,
}

impl Outbound {
    /// A client for `allow`.
    ///
    /// # Errors
    /// When the TLS backend cannot start.
    pub fn new(allow: Allow) -> anyhow::Result<Self> {
        let allow = Arc::new(allow);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("suyuan/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Resolver { allow: allow.clone() }))
            .build()?;
        Ok(Self { http, allow })
    }

    /// The client to build requests with; send them with [`Outbound::send`] (sending them
    /// directly would skip the check of IP-literal hosts and the answer limit).
    #[must_use]
    pub fn requests(&self) -> &reqwest::Client {
        &self.http
    }

    /// The URL's host when it is an allowed destination, checked as the URL parser normalises
    /// it (the form reqwest connects to).
    fn literal_allowed(&self, url: &url::Url) -> Result<(), OutboundError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::BadUrl);
        }
        match url.host() {
            None => Err(OutboundError::BadUrl),
            Some(url::Host::Ipv4(ip)) if !self.allow.ip_allowed(IpAddr::V4(ip)) => Err(OutboundError::NotAllowed),
            Some(url::Host::Ipv6(ip)) if !self.allow.ip_allowed(IpAddr::V6(ip)) => Err(OutboundError::NotAllowed),
            Some(_) => Ok(()),
        }
    }

    /// Checks a destination when it is configured (an SSO issuer, a federation parent): an IP
    /// literal must be allowed; a host name must be listed or resolve to at least one allowed
    /// address. A name that does not resolve now passes (its network may not be up yet): the
    /// resolver checks it again at every request.
    ///
    /// # Errors
    /// [`OutboundError::BadUrl`] or [`OutboundError::NotAllowed`].
    pub async fn check(&self, url: &str) -> Result<(), OutboundError> {
        let url = url::Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
        self.literal_allowed(&url)?;
        let Some(url::Host::Domain(host)) = url.host() else { return Ok(()) };
        if self.allow.name_listed(host) {
            return Ok(());
        }
        match tokio::time::timeout(CHECK_LOOKUP_TIMEOUT, tokio::net::lookup_host((host, 0))).await {
            Ok(Ok(found)) => {
                let addrs: Vec<SocketAddr> = found.collect();
                if addrs.is_empty() || addrs.iter().any(|a| self.allow.ip_allowed(a.ip())) {
                    Ok(())
                } else {
                    Err(OutboundError::NotAllowed)
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(host, error = %e, "outbound: the name does not resolve now; checked again per request");
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    /// Sends `request` when its destination is allowed and reads the answer up to `limit`
    /// bytes. Redirects come back as they are (3xx), never followed.
    ///
    /// # Errors
    /// [`OutboundError`]; the caller shows people one "unreachable" sentence for all of them.
    pub async fn send(&self, request: reqwest::Request, limit: usize) -> Result<Answer, OutboundError> {
        self.literal_allowed(request.url())?;
        let mut response = self.http.execute(request).await?;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(OutboundError::TooLarge(limit));
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, headers, body })
    }
}

/// OpenID Connect requests (discovery, keys, tokens) go through the same checks and limits.
impl<'c> openidconnect::AsyncHttpClient<'c> for Outbound {
    type Error = openidconnect::HttpClientError<OutboundError>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut request = reqwest::Request::try_from(request)
                .map_err(|e| openidconnect::HttpClientError::Reqwest(Box::new(OutboundError::Failed(e))))?;
            // A login waits for these: shorter than a delivery.
            *request.timeout_mut() = Some(Duration::from_secs(10));
            let answer = self
                .send(request, MAX_ANSWER_BYTES)
                .await
                .map_err(|e| openidconnect::HttpClientError::Reqwest(Box::new(e)))?;
            let mut response = openidconnect::http::Response::builder().status(answer.status);
            for (name, value) in &answer.headers {
                response = response.header(name, value);
            }
            response.body(answer.body).map_err(openidconnect::HttpClientError::Http)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for s in [
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.10",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2001::1",
        ] {
            assert!(!is_public(ip(s)), "{s} is not public");
        }
        for s in [
            "8.8.8.8",
            "202.96.128.86",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2400:3200::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn url_forms_of_loopback_are_normalised_before_the_check() {
        let out = Outbound::new(Allow::default()).unwrap();
        for u in [
            "http://127.0.0.1:8080/",
            "http://127.1/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://017700000001/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[fd00::1]/",
            "http://0.0.0.0/",
        ] {
            let url = url::Url::parse(u).unwrap();
            assert!(matches!(out.literal_allowed(&url), Err(OutboundError::NotAllowed)), "{u} refused");
        }
        assert!(out.literal_allowed(&url::Url::parse("https://8.8.8.8/").unwrap()).is_ok());
        assert!(
            out.literal_allowed(&url::Url::parse("https://sso.example.gov.cn/").unwrap()).is_ok(),
            "names go to the resolver"
        );
        assert!(matches!(out.literal_allowed(&url::Url::parse("ftp://8.8.8.8/").unwrap()), Err(OutboundError::BadUrl)));
    }

    #[test]
    fn listed_networks_addresses_and_names_are_allowed() {
        let allow = Allow::parse("10.20.0.0/16, 127.0.0.1, fd00:1::/32, sso.sd.gov.cn, *.nation.gov.cn").unwrap();
        assert!(allow.ip_allowed(ip("10.20.3.4")));
        assert!(!allow.ip_allowed(ip("10.21.0.1")), "outside the listed network");
        assert!(allow.ip_allowed(ip("127.0.0.1")));
        assert!(allow.ip_allowed(ip("::ffff:127.0.0.1")), "the mapped form of a listed address");
        assert!(!allow.ip_allowed(ip("127.0.0.2")));
        assert!(allow.ip_allowed(ip("fd00:1::5")));
        assert!(!allow.ip_allowed(ip("fd00:2::5")));
        assert!(!allow.ip_allowed(ip("169.254.169.254")));
        assert!(allow.ip_allowed(ip("8.8.8.8")), "the public internet stays reachable");
        assert!(allow.name_listed("SSO.sd.gov.cn."));
        assert!(!allow.name_listed("sso.sd.gov.cn.evil.example"));
        assert!(allow.name_listed("fed.nation.gov.cn"));
        assert!(!allow.name_listed("nation.gov.cn"), "*. names the subdomains");
        assert!(!allow.name_listed("evilnation.gov.cn"));
        // A host part with bits set is taken as its network.
        assert!(Allow::parse("10.20.1.1/16").unwrap().ip_allowed(ip("10.20.9.9")));
        assert!(Allow::parse("").unwrap().nets.is_empty());
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["10.0.0.0/33", "http://sso.gov.cn", "*.", "sso_idp", "300.1.1.1", "a..b", "-a.gov.cn"] {
            let e = Allow::parse(&format!("127.0.0.1, {bad}")).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[tokio::test]
    async fn names_that_resolve_to_refused_addresses_are_refused_when_configured() {
        let out = Outbound::new(Allow::default()).unwrap();
        assert!(matches!(out.check("http://localhost:9/").await, Err(OutboundError::NotAllowed)));
        assert!(matches!(out.check("http://127.1:9/").await, Err(OutboundError::NotAllowed)));
        let listed = Outbound::new(Allow::parse("localhost").unwrap()).unwrap();
        assert!(listed.check("http://localhost:9/").await.is_ok());
        let net = Outbound::new(Allow::parse("127.0.0.0/8, ::1").unwrap()).unwrap();
        assert!(net.check("http://localhost:9/").await.is_ok());
    }

    #[tokio::test]
    async fn a_request_to_a_refused_name_never_connects() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        // A listener on loopback whose first connection must be the probe made at the end.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let out = Outbound::new(Allow::default()).unwrap();
        for u in [
            format!("http://localhost:{port}/"),
            format!("http://127.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let req = out.requests().get(&u).build().unwrap();
            let err = out.send(req, 1024).await.unwrap_err();
            assert!(err.is_refusal(), "{u}: {err:?}");
        }
        let mut probe = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        probe.write_all(b"probe").await.unwrap();
        let (mut first, _) = listener.accept().await.unwrap();
        let mut seen = [0u8; 5];
        first.read_exact(&mut seen).await.unwrap();
        assert_eq!(&seen, b"probe", "the refused requests never connected");
    }
}
