#pragma once
// The least-privilege Redis user the README documents ("Managed Redis (TLS, ACL)"): tests
// create exactly that user, read from the README itself, so that the documented rules and the
// service's needs cannot drift apart unnoticed.

#include <string>
#include <vector>

namespace analytics::test {

struct documented_acl {
    std::string username;
    /// ACL SETUSER and its arguments, the README's password placeholder replaced.
    std::vector<std::string> setuser;
};

/// Reads the one `ACL SETUSER` line of README.md and puts `password` in place of its `>...`
/// placeholder. Throws when the README has no such line or more than one.
documented_acl readme_acl(const std::string& password);

}  // namespace analytics::test
