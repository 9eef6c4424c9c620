//! An HTTP gateway in front of a Cap'n Proto backend: axum on a multi-threaded tokio runtime,
//! calling a Calculator through [`Shared`] (the connection lives on a windlass thread of its own;
//! any task on any runtime thread can call through it).
//!
//! ```text
//! cargo run --example http_gateway                                  # with an in-process backend
//! cargo run --example http_gateway -- --backend 127.0.0.1:4000      # or a running server
//! curl 'http://127.0.0.1:8080/eval?expr=(4%2B5)*3'                  # {"expr":"(4 + 5) * 3","value":27.0}
//! ```
//!
//! `GET /eval?expr=EXPR` parses the infix expression (400 with the column on a typo), evaluates it
//! on the backend in one round trip (`Shared::call`), and answers JSON; a backend that is gone is
//! a 503, any other backend error a 502.

use std::net::SocketAddr;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde::{Deserialize, Serialize};
use windlass::{Connector, Shared};
use windlass_calculator::{self as calculator, Calculator};

#[derive(Parser)]
#[command(about = "HTTP/JSON in front of a Cap'n Proto Calculator")]
struct Args {
    /// Where to answer HTTP.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A Calculator server to use; without it, one is started in this process.
    #[arg(long)]
    backend: Option<String>,
}

/// The query of `GET /eval`.
#[derive(Deserialize)]
pub(crate) struct EvalQuery {
    expr: String,
}

/// A successful answer.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(crate) struct Answer {
    /// The expression as parsed (normalised spacing and parentheses).
    pub(crate) expr: String,
    /// Its value, computed by the backend.
    pub(crate) value: f64,
}

/// A failed answer.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Failure {
    pub(crate) error: String,
    /// Where a parse error is (1-based), for 400s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) column: Option<usize>,
}

/// The gateway's routes over one shared backend capability.
pub(crate) fn router(backend: Shared<Calculator>) -> Router {
    Router::new().route("/eval", get(eval)).with_state(backend)
}

async fn eval(
    State(backend): State<Shared<Calculator>>,
    Query(query): Query<EvalQuery>,
) -> Result<Json<Answer>, (StatusCode, Json<Failure>)> {
    let expr = calculator::parse(&query.expr).map_err(|e| {
        let failure = Failure {
            error: e.to_string(),
            column: Some(e.column),
        };
        (StatusCode::BAD_REQUEST, Json(failure))
    })?;
    let shown = expr.to_string();
    // The closure runs on the backend connection's thread; only `expr` (plain data) crosses.
    let outcome = backend
        .call(move |calc: Calculator| async move { calculator::evaluate(&calc, &expr).await })
        .await;
    let failed = |status, e: &dyn std::fmt::Display| {
        let failure = Failure {
            error: e.to_string(),
            column: None,
        };
        (status, Json(failure))
    };
    match outcome {
        Ok(Ok(value)) => Ok(Json(Answer { expr: shown, value })),
        Ok(Err(e)) if e.kind == capnp::ErrorKind::Disconnected => {
            Err(failed(StatusCode::SERVICE_UNAVAILABLE, &e))
        }
        Ok(Err(e)) => Err(failed(StatusCode::BAD_GATEWAY, &e)),
        Err(e) => Err(failed(StatusCode::SERVICE_UNAVAILABLE, &e)),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Without --backend: a Calculator server in this process (its own threads), on a free port.
    let (backend_addr, local) = match args.backend {
        Some(addr) => (addr, None),
        None => {
            let server = windlass::Server::bind(
                "127.0.0.1:0",
                windlass::ServerOptions::new(),
                |_: &windlass::server::ConnectionInfo| calculator::new_client().client,
            )?;
            (server.local_addr().to_string(), Some(server))
        }
    };
    let backend: Shared<Calculator> = Connector::new(&backend_addr).connect_shared().await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "http_gateway: http://{}/eval?expr=... -> Calculator at {backend_addr}",
        listener.local_addr()?
    );
    axum::serve(listener, router(backend.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    backend.close().await?;
    if let Some(server) = local {
        server.shutdown()?;
    }
    Ok(())
}
