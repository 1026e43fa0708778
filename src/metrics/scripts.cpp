#include "metrics/scripts.hpp"

#include "metrics/lua_scripts.hpp"

#include <string>

namespace analytics::metrics::scripts {

const redis::script& store()
{
    static const redis::script s{std::string(lua::store())};
    return s;
}

const redis::script& registry()
{
    static const redis::script s{std::string(lua::registry())};
    return s;
}

}  // namespace analytics::metrics::scripts
