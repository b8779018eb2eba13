#pragma once

#include <string>
#include <utility>
#include <variant>

namespace haveri::core {

// Why an expected operation failed. Codes are stable: callers branch on them.
enum class ErrorCode {
  invalid_argument,  // the input was malformed; the message says how to fix it
  not_found,         // the thing named does not exist
  conflict,          // optimistic concurrency: someone appended first
  refused,           // a valid request the current state does not allow
  storage,           // the store failed (I/O, corruption); the message has the detail
  unavailable,       // a dependency (plugin, platform) cannot be reached now
};

struct Error {
  ErrorCode code;
  std::string message;
};

// A value or an Error: expected failures are values, never exceptions.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success carries nothing.
struct Done {};
using VoidResult = Result<Done>;  // not "Status": that name is the incident status enum

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace haveri::core
