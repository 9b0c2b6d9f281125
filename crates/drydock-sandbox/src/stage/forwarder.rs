//! The in-sandbox end of egress: `127.0.0.1:<port>` relayed to the proxy's Unix socket.
//!
//! The sandbox's network namespace has only a loopback interface, so nothing it opens can reach
//! the host or the internet. This forwarder, a child of the supervisor, listens on loopback and
//! copies each connection to the egress proxy's socket (bind-mounted in by bubblewrap); the
//! proxy on the host does all the deciding. It runs confined like a command. The supervisor
//! binds the listener before forking it, so the port is known at once.

use tokio::net::{TcpListener, UnixStream};

use super::confine::ChildConfinement;

/// Runs the forwarder in the freshly forked child. Never returns.
pub(crate) fn run(
    proxy_socket: &str,
    confinement: ChildConfinement<'_>,
    listener: std::net::TcpListener,
) -> ! {
    let code = match serve(proxy_socket, confinement, listener) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("drydock sandbox forwarder: {err}");
            1
        }
    };
    // SAFETY: _exit ends this forked child without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

fn serve(
    proxy_socket: &str,
    confinement: ChildConfinement<'_>,
    listener: std::net::TcpListener,
) -> std::io::Result<()> {
    let _ = crate::sys::set_parent_death_signal(libc::SIGKILL);
    confinement
        .apply()
        .map_err(|err| std::io::Error::other(format!("{}: {}", err.step, err.error)))?;
    let _ = crate::sys::set_dumpable(false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        loop {
            let (mut tcp, _) = listener.accept().await?;
            let proxy_socket = proxy_socket.to_string();
            tokio::spawn(async move {
                match UnixStream::connect(&proxy_socket).await {
                    Ok(mut unix) => {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                    }
                    Err(err) => eprintln!("drydock sandbox forwarder: proxy unreachable: {err}"),
                }
            });
        }
    })
}
