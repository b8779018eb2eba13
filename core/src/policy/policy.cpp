#include <haveri/policy/policy.hpp>

namespace haveri::policy {
// TODO(issue 7): implementation in progress.
}  // namespace haveri::policy
