#pragma once
// The TLS side of the service's Redis connections, set up once at start-up from REDIS_TLS,
// REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE and REDIS_TLS_VERIFY, and shared by
// every worker's client and subscriber (the context is safe across threads once set up).
//
// Thread safety: call from the main thread at start-up.

#include "config/settings.hpp"

#include <memory>

namespace analytics::common {
class tls_context;
}

namespace analytics::app {

/// The TLS context of every Redis connection, or null when REDIS_TLS is off. A file that cannot
/// serve (missing, unreadable, not PEM, a key that is not the certificate's) throws
/// config::config_error naming its variable. With REDIS_TLS_VERIFY=false a warning is logged:
/// the connections are encrypted but the server is not authenticated.
std::shared_ptr<common::tls_context> make_redis_tls(const config::redis_options& options);

}  // namespace analytics::app
