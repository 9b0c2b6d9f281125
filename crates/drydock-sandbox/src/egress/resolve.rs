//! Name resolution for the egress proxy.

use std::fmt::Debug;
use std::net::SocketAddr;

use async_trait::async_trait;

/// Resolves a host name to addresses. The proxy checks every address it gets and connects only
/// to one it checked.
#[async_trait]
pub trait Resolver: Send + Sync + Debug {
    /// Addresses of `host` (a validated DNS name) for `port`.
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The host's resolver (`getaddrinfo`: `/etc/hosts`, then DNS).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}
