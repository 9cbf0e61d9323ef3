//! The one way weir connects to NATS, for the `nats` source and sink: the
//! server list, the credentials, TLS, and the connection's state as the
//! live view and the summary show it.
//!
//! The client reconnects on its own, without limit, and keeps what it was
//! asked to send while it reconnects; [`ConnectionState`] says whether it
//! is connected now and how often it lost the connection.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Deserialize;

/// `url`: one server or a list of them (the client picks one and moves to
/// another when it loses it).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Urls {
    /// `url = "nats://127.0.0.1:4222"`.
    One(String),
    /// `url = ["nats://a:4222", "nats://b:4222"]`.
    Many(Vec<String>),
}

impl Urls {
    fn list(&self) -> &[String] {
        match self {
            Urls::One(url) => std::slice::from_ref(url),
            Urls::Many(urls) => urls,
        }
    }
}

impl std::fmt::Display for Urls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.list().join(", "))
    }
}

/// `auth`: how to prove who we are, one of a token, a user and password,
/// or a credentials file (`.creds`, a JWT and its NKey seed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Auth {
    token: Option<String>,
    user: Option<String>,
    password: Option<String>,
    credentials: Option<PathBuf>,
}

/// What a `nats` source or sink says about the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Server<'a> {
    /// `url`.
    pub(crate) urls: &'a Urls,
    /// `auth`.
    pub(crate) auth: Option<&'a Auth>,
    /// `tls_ca`: a PEM file of root certificates; setting it requires TLS.
    pub(crate) tls_ca: Option<&'a PathBuf>,
}

/// The connection could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// `auth` names no way, or more than one.
    #[error("auth: give one of `token`, `user` with `password`, or `credentials`")]
    Auth,
    /// The credentials file could not be read.
    #[error("auth: cannot read credentials {path}: {source}")]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No server answered.
    #[error("cannot connect to NATS at {urls}: {source}")]
    Connect {
        urls: String,
        #[source]
        source: async_nats::ConnectError,
    },
}

/// Whether the connection is up, and how often it went down; shared by the
/// client's event callback and whoever shows it.
#[derive(Debug, Default)]
pub(crate) struct ConnectionState {
    down: AtomicBool,
    disconnects: AtomicU64,
}

impl ConnectionState {
    /// As a component's status: `None` while connected and never lost,
    /// `reconnecting to NATS` while lost, `connected to NATS (N reconnects)`
    /// once it was.
    pub(crate) fn status(&self) -> Option<String> {
        let down = self.down.load(Ordering::Relaxed);
        match self.disconnects.load(Ordering::Relaxed) {
            _ if down => Some("reconnecting to NATS".to_owned()),
            0 => None,
            1 => Some("connected to NATS (1 reconnect)".to_owned()),
            n => Some(format!("connected to NATS ({n} reconnects)")),
        }
    }
}

/// Connects to `server`; `name` is the connection's name on the server.
pub(crate) async fn connect(
    server: Server<'_>,
    name: &str,
) -> Result<(async_nats::Client, Arc<ConnectionState>), ConnectError> {
    let mut options = async_nats::ConnectOptions::new().name(name);
    if let Some(auth) = server.auth {
        options = match (&auth.token, &auth.user, &auth.password, &auth.credentials) {
            (Some(token), None, None, None) => options.token(token.clone()),
            (None, Some(user), Some(password), None) => {
                options.user_and_password(user.clone(), password.clone())
            }
            (None, None, None, Some(path)) => {
                options.credentials_file(path).await.map_err(|source| {
                    ConnectError::Credentials {
                        path: path.clone(),
                        source,
                    }
                })?
            }
            _ => return Err(ConnectError::Auth),
        };
    }
    if let Some(ca) = server.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    let state = Arc::new(ConnectionState::default());
    let events = state.clone();
    options = options.event_callback(move |event| {
        let events = events.clone();
        async move {
            match event {
                async_nats::Event::Disconnected => {
                    events.down.store(true, Ordering::Relaxed);
                    events.disconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("nats: connection lost, reconnecting");
                }
                async_nats::Event::Connected => {
                    events.down.store(false, Ordering::Relaxed);
                    tracing::info!("nats: connected");
                }
                other => tracing::debug!(event = %other, "nats"),
            }
        }
    });
    let urls: Vec<&str> = server.urls.list().iter().map(String::as_str).collect();
    let client =
        options
            .connect(urls.as_slice())
            .await
            .map_err(|source| ConnectError::Connect {
                urls: server.urls.to_string(),
                source,
            })?;
    Ok((client, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_says_reconnecting_and_how_often_it_was() {
        let state = ConnectionState::default();
        assert_eq!(state.status(), None);
        state.down.store(true, Ordering::Relaxed);
        state.disconnects.fetch_add(1, Ordering::Relaxed);
        assert_eq!(state.status().as_deref(), Some("reconnecting to NATS"));
        state.down.store(false, Ordering::Relaxed);
        assert_eq!(
            state.status().as_deref(),
            Some("connected to NATS (1 reconnect)")
        );
    }

    #[tokio::test]
    async fn auth_with_two_ways_is_an_error_before_connecting() {
        let auth: Auth = serde_json::from_str(r#"{"token": "t", "user": "u"}"#).unwrap();
        let urls = Urls::One("nats://127.0.0.1:1".into());
        let server = Server {
            urls: &urls,
            auth: Some(&auth),
            tls_ca: None,
        };
        let error = connect(server, "t").await.err().unwrap();
        assert!(matches!(error, ConnectError::Auth), "{error}");
    }
}
