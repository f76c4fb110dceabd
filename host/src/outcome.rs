//! Request outcomes: the `islet-outcome` response header and log field.

/// Name of the response header that tells why islet, rather than the
/// tenant, produced a response.
pub const OUTCOME_HEADER: &str = "islet-outcome";

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The tenant answered.
    Ok,
    /// No route matched the request (`404`).
    NoRoute,
    /// The tenant threw, trapped or returned something unusable (`500`).
    Exception,
    /// The request body could not be read (`400`).
    BadRequest,
    /// The request body was larger than `server.max_body_mb` (`413`).
    BodyTooLarge,
    /// The request used more CPU than `cpu_ms` (`503`).
    ExceededCpu,
    /// The isolate outgrew `memory_mb` (`503`).
    ExceededMemory,
    /// The request took longer than `wall_ms` (`504`).
    ExceededWall,
    /// The tenant's worker thread had no room in its queue (`503`).
    Overloaded,
    /// The host is shutting down (`503`).
    ShuttingDown,
    /// A bug in islet itself (`500`).
    Internal,
}

impl Outcome {
    /// The header and log value, e.g. `no-route`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NoRoute => "no-route",
            Outcome::Exception => "exception",
            Outcome::BadRequest => "bad-request",
            Outcome::BodyTooLarge => "body-too-large",
            Outcome::ExceededCpu => "exceeded-cpu",
            Outcome::ExceededMemory => "exceeded-memory",
            Outcome::ExceededWall => "exceeded-wall",
            Outcome::Overloaded => "overloaded",
            Outcome::ShuttingDown => "shutting-down",
            Outcome::Internal => "internal-error",
        }
    }

    /// The status code islet answers with for this outcome.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Outcome::Ok => S::OK,
            Outcome::NoRoute => S::NOT_FOUND,
            Outcome::Exception | Outcome::Internal => S::INTERNAL_SERVER_ERROR,
            Outcome::BadRequest => S::BAD_REQUEST,
            Outcome::BodyTooLarge => S::PAYLOAD_TOO_LARGE,
            Outcome::ExceededCpu
            | Outcome::ExceededMemory
            | Outcome::Overloaded
            | Outcome::ShuttingDown => S::SERVICE_UNAVAILABLE,
            Outcome::ExceededWall => S::GATEWAY_TIMEOUT,
        }
    }
}
