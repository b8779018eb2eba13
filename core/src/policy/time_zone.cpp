#include <haveri/policy/time_zone.hpp>

namespace haveri::policy {
// TODO(issue 7): implementation in progress.
}  // namespace haveri::policy
