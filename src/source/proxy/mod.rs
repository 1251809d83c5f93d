//! HTTP(S) proxy traffic → API calls, for `observe --proxy`.
//!
//! The application sends its AWS traffic through the proxy (`HTTPS_PROXY`, and trusts the proxy's
//! CA through `AWS_CA_BUNDLE`). Each signed request is decoded to its operation and resource
//! parameters in the shape CloudTrail records them, so the CloudTrail mapping turns it into the
//! same actions and ARNs; the traffic itself is forwarded as it came.
//!
//! - `decode`: request → service, region, operation, resource parameters (JSON, query, REST-JSON)
//! - `s3`: S3's REST-XML operations
//! - `body`: bodies passed through, and the report of each call once answered
//! - `tls`: the proxy's CA, leaf certificates, upstream TLS
//! - `reach`: which hosts are recorded, and where the proxy refuses to connect
//! - `limits`: connection slots, and connections closed when silent
//! - `server`: the forward proxy itself
//! - `live`: the proxy as a live source (`LiveSource`), its calls mapped as CloudTrail's are

pub mod body;
pub mod decode;
pub mod limits;
pub mod live;
pub mod reach;
pub mod s3;
pub mod server;
pub mod tls;
