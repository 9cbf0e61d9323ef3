//! Binding a listening source's socket, shared by the `tcp` and `http`
//! sources.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub(crate) struct ListenError {
    /// The address from the config.
    pub(crate) address: String,
    /// Why.
    #[source]
    pub(crate) source: io::Error,
}

/// Binds `address` (`host:port`; port 0 picks one); returns the listener
/// and the address it is bound to.
pub(crate) async fn listen(address: &str) -> Result<(TcpListener, SocketAddr), ListenError> {
    let fail = |source| ListenError {
        address: address.to_owned(),
        source,
    };
    let listener = TcpListener::bind(address).await.map_err(fail)?;
    let local_addr = listener.local_addr().map_err(fail)?;
    Ok((listener, local_addr))
}
