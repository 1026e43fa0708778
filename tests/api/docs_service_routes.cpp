#include "api/docs_service_routes.hpp"

#include "app/application.hpp"
#include "config/settings.hpp"

namespace analytics::test {

// The real application's route table: building an application binds nothing and starts no
// thread, so this reads exactly what the service will serve.
std::vector<http::router::route_info> service_routes()
{
    config::settings s;
    s.http.threads = 1;
    return app::application(std::move(s)).routes();
}

}  // namespace analytics::test
