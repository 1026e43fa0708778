#include "app/redis_tls.hpp"

#include "common/logging.hpp"
#include "common/tls_context.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace analytics::app {

namespace {

// Runs one step of the set-up; what it throws becomes a configuration error naming `variable`.
template <class Step>
void step(std::string_view variable, Step&& run)
{
    try {
        run();
    } catch (const config::config_error&) {
        throw;
    } catch (const std::exception& e) {
        throw config::config_error(std::string(variable) + ": " + e.what());
    }
}

}  // namespace

std::shared_ptr<common::tls_context> make_redis_tls(const config::redis_options& options)
{
    if (!options.tls) {
        return nullptr;
    }
    std::shared_ptr<common::tls_context> tls;
    if (options.tls_ca_file.empty()) {
        step("REDIS_TLS: cannot use the system's CA store",
             [&] { tls = std::make_shared<common::tls_context>(std::string()); });
    } else {
        step("REDIS_TLS_CA_FILE",
             [&] { tls = std::make_shared<common::tls_context>(options.tls_ca_file); });
    }
    if (!options.tls_cert_file.empty()) {
        step("REDIS_TLS_CERT_FILE", [&] { tls->use_certificate_chain_file(options.tls_cert_file); });
        step("REDIS_TLS_KEY_FILE", [&] { tls->use_private_key_file(options.tls_key_file); });
    }
    if (!options.tls_verify) {
        tls->skip_verification();
        log::warn("redis.tls_verification_disabled",
                  {{"message",
                    "REDIS_TLS_VERIFY=false: Redis's certificate is not checked, so anyone on the "
                    "network path can pose as the server and read the data and the password"}});
    }
    return tls;
}

}  // namespace analytics::app
