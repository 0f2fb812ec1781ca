//! A connected client for one job: the HTTP client, the run's tokens (the
//! first one fetched at once, so wrong credentials fail before anything
//! else), the rate gate and the retry policy.

use std::sync::Arc;

use crate::auth::{TokenEndpoint, Tokens};
use crate::fetch::{self, ApiClient, Gate, RetryPolicy};
use crate::job::Job;

use super::RunError;

/// A connected client: HTTP, tokens, rate gate, retry policy of one job.
pub struct Session {
    pub client: Arc<ApiClient>,
}

impl Session {
    /// Build the client and get the run's first token (wrong credentials
    /// fail here, before anything else).
    pub async fn connect(job: &Job) -> Result<Session, RunError> {
        let http = fetch::build_http_client(job.api.timeout).map_err(RunError::Setup)?;
        let policy = RetryPolicy::from(&job.retry);
        let tokens = Arc::new(Tokens::new(
            TokenEndpoint::new(http.clone(), job.auth.clone()),
            policy.clone(),
        ));
        tokens.get().await?;
        let client = ApiClient::new(http, tokens, Gate::new(&job.rate_limit), policy);
        Ok(Session {
            client: Arc::new(client),
        })
    }
}
