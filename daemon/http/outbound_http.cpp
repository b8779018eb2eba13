#include "outbound_http.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>

// spdlog (fmt) before cpprestsdk, whose macro U(x) breaks fmt's templates.
// clang-format off
#include <spdlog/spdlog.h>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>
#undef U
// clang-format on

namespace haveri::http {

namespace {

namespace client = web::http::client;

// cpprestsdk's own timeout restarts with every read; ours (the deadline) bounds the
// whole exchange, so this only has to outlast the longest deadline a caller may ask.
constexpr std::chrono::seconds kIdleTimeout{150};
constexpr std::size_t kBodyChunkBytes = std::size_t{64} * 1024;

std::string to_lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// "host:port" for messages: never the path, the query or credentials.
std::string destination(const web::uri& uri) {
  const int port = uri.port() > 0 ? uri.port() : (uri.scheme() == "https" ? 443 : 80);
  return uri.host() + ":" + std::to_string(port);
}

OutboundResponse failure(std::string error) {
  OutboundResponse response;
  response.error = std::move(error);
  return response;
}

// The words people know for what cpprestsdk reports, when it reports a system error.
std::string describe_failure(const std::exception& e) {
  if (const auto* http = dynamic_cast<const web::http::http_exception*>(&e)) {
    const std::error_code code = http->error_code();
    std::string what = http->what();
    if (code && code.message() != what && what.find(code.message()) == std::string::npos) {
      return what + " (" + code.message() + ")";
    }
    return what;
  }
  return e.what();
}

}  // namespace

// One request in flight: whoever finishes it first (the answer, the deadline, an
// error, the client's destruction) delivers, the others find it finished.
struct OutboundCall : std::enable_shared_from_this<OutboundCall> {
  OutboundCall(std::string where, std::chrono::milliseconds limit, OutboundCallback callback)
      : destination(std::move(where)),
        timeout(limit),
        done(std::move(callback)),
        deadline(crossplat::threadpool::shared_instance().service()) {}

  const std::string destination;
  const std::chrono::milliseconds timeout;
  std::function<void()> untrack;  // set before the request starts; forgets it in the client
  std::mutex mutex;               // guards the members below and every use of `deadline`
  bool finished = false;
  OutboundCallback done;
  boost::asio::steady_timer deadline;  // runs on cpprestsdk's pool
  pplx::cancellation_token_source cancellation;
  OutboundResponse response;  // filled while the body arrives

  // Delivers `result` unless the call already finished; `abort` stops the transfer.
  void finish(OutboundResponse result, bool abort) {
    OutboundCallback callback;
    {
      std::lock_guard lock(mutex);
      if (finished) {
        return;
      }
      finished = true;
      callback = std::move(done);
      deadline.cancel();
    }
    if (untrack) {
      untrack();
    }
    if (abort) {
      cancellation.cancel();
    }
    if (callback) {
      callback(std::move(result));
    }
  }

  void abandon() {
    {
      std::lock_guard lock(mutex);
      finished = true;
      done = nullptr;
      deadline.cancel();
    }
    cancellation.cancel();
  }
};

struct OutboundHttp::Impl : std::enable_shared_from_this<OutboundHttp::Impl> {
  explicit Impl(OutboundHttpOptions opts) : options(std::move(opts)) {}

  const OutboundHttpOptions options;

  struct Clients {
    std::map<std::string, std::shared_ptr<client::http_client>> by_key;
    std::list<std::string> oldest_first;
  };
  std::mutex clients_mutex;
  Clients clients;

  std::mutex calls_mutex;
  std::map<std::uint64_t, std::weak_ptr<OutboundCall>> calls;
  std::uint64_t next_call = 1;

  std::shared_ptr<client::http_client> client_for(const web::uri& uri, const std::string& proxy) {
    const std::string key =
        uri.scheme() + "://" + uri.host() + ":" + std::to_string(uri.port()) + " via " + proxy;
    std::lock_guard lock(clients_mutex);
    if (auto it = clients.by_key.find(key); it != clients.by_key.end()) {
      return it->second;
    }
    client::http_client_config config;
    config.set_timeout(kIdleTimeout);
    config.set_validate_certificates(true);
    if (!proxy.empty()) {
      config.set_proxy(web::web_proxy(web::uri(proxy)));
    }
    if (!options.ca_file.empty()) {
      config.set_ssl_context_callback([ca_file = options.ca_file](boost::asio::ssl::context& tls) {
        boost::system::error_code ec;
        tls.load_verify_file(ca_file.string(), ec);
        if (ec) {
          spdlog::warn("outbound HTTPS: cannot read CA file {}: {}", ca_file.string(),
                       ec.message());
        }
      });
    }
    web::uri_builder base;
    base.set_scheme(uri.scheme()).set_host(uri.host()).set_port(uri.port());
    auto created = std::make_shared<client::http_client>(base.to_uri(), config);
    clients.by_key.emplace(key, created);
    clients.oldest_first.push_back(key);
    while (clients.by_key.size() > std::max<std::size_t>(options.max_clients, 1)) {
      clients.by_key.erase(clients.oldest_first.front());
      clients.oldest_first.pop_front();
    }
    return created;
  }

  std::uint64_t track(const std::shared_ptr<OutboundCall>& call) {
    std::lock_guard lock(calls_mutex);
    const std::uint64_t id = next_call++;
    calls.emplace(id, call);
    return id;
  }

  void untrack(std::uint64_t id) {
    std::lock_guard lock(calls_mutex);
    calls.erase(id);
  }

  // Reads the body chunk by chunk so that one over the limit is cut off instead of
  // being held in memory whole.
  static void read_body(std::shared_ptr<OutboundCall> call,
                        const concurrency::streams::istream& body, std::size_t limit) {
    auto chunk =
        std::make_shared<concurrency::streams::container_buffer<std::vector<std::uint8_t>>>();
    body.read(*chunk, kBodyChunkBytes)
        .then([call, body, chunk, limit](const pplx::task<std::size_t>& read) mutable {
          std::size_t n = 0;
          try {
            n = read.get();
          } catch (const std::exception& e) {
            call->finish(failure(call->destination +
                                 ": reading the response failed: " + describe_failure(e)),
                         true);
            return;
          }
          if (n == 0) {
            OutboundResponse complete;
            {
              std::lock_guard lock(call->mutex);
              complete = std::move(call->response);
            }
            call->finish(std::move(complete), false);
            return;
          }
          bool over_limit = false;
          {
            std::lock_guard lock(call->mutex);
            if (call->finished) {
              return;
            }
            const auto& bytes = chunk->collection();
            call->response.body.append(bytes.begin(), bytes.end());
            over_limit = call->response.body.size() > limit;
          }
          if (over_limit) {
            call->finish(failure(call->destination + ": response body over " +
                                 std::to_string(limit) + " bytes"),
                         true);
            return;
          }
          read_body(std::move(call), body, limit);
        });
  }
};

OutboundHttp::OutboundHttp(OutboundHttpOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {}

OutboundHttp::~OutboundHttp() {
  std::map<std::uint64_t, std::weak_ptr<OutboundCall>> calls;
  {
    std::lock_guard lock(impl_->calls_mutex);
    calls.swap(impl_->calls);
  }
  for (auto& [id, weak] : calls) {
    if (auto call = weak.lock()) {
      call->abandon();
    }
  }
}

std::string OutboundHttp::check_url(const std::string& url) {
  if (!web::uri::validate(url)) {
    return "not a URL";
  }
  const web::uri uri(url);
  if (uri.scheme() != "http" && uri.scheme() != "https") {
    return "not an http or https URL";
  }
  if (uri.host().empty()) {
    return "a URL without a host";
  }
  return {};
}

void OutboundHttp::send(OutboundRequest request, OutboundCallback done) {
  // Whatever happens, `done` runs on the pool, never on the caller's stack.
  auto deliver_later = [](OutboundCallback callback, OutboundResponse response) {
    crossplat::threadpool::shared_instance().service().post(
        [callback = std::move(callback), response = std::move(response)]() mutable {
          callback(std::move(response));
        });
  };
  if (std::string why = check_url(request.url); !why.empty()) {
    deliver_later(std::move(done), failure(why));
    return;
  }
  if (!request.proxy.empty()) {
    if (std::string why = check_url(request.proxy); !why.empty()) {
      deliver_later(std::move(done), failure("proxy: " + why));
      return;
    }
  }
  const web::uri uri(request.url);
  auto call = std::make_shared<OutboundCall>(destination(uri), request.timeout, std::move(done));
  std::shared_ptr<client::http_client> client;
  web::http::http_request message;
  try {
    client = impl_->client_for(uri, request.proxy);
    message.set_method(request.method);
    message.set_request_uri(uri.resource());
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      std::string content_type = "application/octet-stream";
      for (const auto& [name, value] : request.headers) {
        if (iequals(name, "content-type")) {
          content_type = value;
        }
      }
      message.set_body(std::move(request.body), content_type);
    }
    message.headers()["User-Agent"] = "haverid/0.1";
    for (const auto& [name, value] : request.headers) {
      message.headers()[name] = value;
    }
  } catch (const std::exception& e) {
    call->finish(failure(call->destination + ": " + e.what()), false);
    return;
  }

  const std::uint64_t id = impl_->track(call);
  call->untrack = [weak_impl = std::weak_ptr<Impl>(impl_), id] {
    if (auto impl = weak_impl.lock()) {
      impl->untrack(id);
    }
  };
  {
    std::lock_guard lock(call->mutex);
    call->deadline.expires_after(request.timeout);
    call->deadline.async_wait(
        [weak = std::weak_ptr<OutboundCall>(call)](const boost::system::error_code& ec) {
          if (auto timed_out = weak.lock(); timed_out && !ec) {
            timed_out->finish(failure(timed_out->destination + ": timed out after " +
                                      std::to_string(timed_out->timeout.count()) + " ms"),
                              true);
          }
        });
  }
  const std::size_t limit = impl_->options.max_response_bytes;
  client->request(message, call->cancellation.get_token())
      .then([call, client, limit](const pplx::task<web::http::http_response>& answered) {
        // Keeps the client (and its connection pool) alive until the answer is read.
        web::http::http_response response;
        try {
          response = answered.get();
        } catch (const std::exception& e) {
          call->finish(failure(call->destination + ": " + describe_failure(e)), false);
          return;
        }
        if (response.headers().content_length() > limit) {
          call->finish(failure(call->destination + ": response body of " +
                               std::to_string(response.headers().content_length()) +
                               " bytes is over " + std::to_string(limit) + " bytes"),
                       true);
        } else {
          {
            std::lock_guard lock(call->mutex);
            call->response.status = response.status_code();
            for (const auto& [name, value] : response.headers()) {
              call->response.headers.emplace_back(to_lower(name), value);
            }
          }
          Impl::read_body(call, response.body(), limit);
        }
      });
}

}  // namespace haveri::http
