/*
 * Haveri plugin ABI — the whole contract between haverid (the host) and a chat
 * platform adapter (a plugin). This header is the reference; docs/plugin-abi.md
 * explains it with examples.
 *
 * Principles
 *   - Pure C. No C++ types, exceptions or allocator ownership cross this boundary.
 *   - Strings are borrowed: a `haveri_str` passed into a function is valid only for
 *     the duration of that call. Whoever wants to keep it copies it.
 *   - Payloads are UTF-8 JSON documents carrying "v" (payload version) and, where
 *     it applies, "type". Readers ignore fields they do not know.
 *   - Function tables start with their own size and only ever grow at the end.
 *     A reader checks `struct_size` before touching a field added later.
 *   - The host refuses a plugin whose ABI major differs from its own.
 *
 * Lifecycle
 *   1. The host dlopen()s lib<name>.so and looks up HAVERI_PLUGIN_ENTRY_SYMBOL.
 *   2. It calls the entry once with its ABI version; the plugin returns a pointer to
 *      a static `haveri_plugin_api` (never freed).
 *   3. For each configured instance the host calls `instance_create`, then
 *      `describe_instance` (ABI 1.1, when the plugin has it), then routes HTTP
 *      requests (`handle_request`) and outbound operations (`perform_operation`)
 *      to it, and finally calls `instance_destroy`.
 *
 * Threading
 *   - The host never calls one plugin instance concurrently: all calls into one
 *     instance are serialised (they may come from different threads over time).
 *     Different instances may be called concurrently.
 *   - Every function in `haveri_host_api` is thread-safe and may be called from
 *     inside a plugin call or from any thread the plugin owns, until
 *     `instance_destroy` returns. Host functions never call back into the plugin
 *     before they return, so a plugin may call them while holding its own locks.
 */
#ifndef HAVERI_PLUGIN_H
#define HAVERI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A plugin built against another major is refused. Minor versions add fields at
 * the end of tables and new optional payload fields; they never change meaning. */
#ifndef HAVERI_ABI_VERSION_MAJOR
#define HAVERI_ABI_VERSION_MAJOR 1
#endif
#define HAVERI_ABI_VERSION_MINOR 2

/* Whether a table read from the other side holds `member`: true when its
 * `struct_size` covers the member. Check before touching any member added after
 * ABI 1.0, e.g. HAVERI_TABLE_HAS(haveri_plugin_api, api, describe_instance). */
#ifdef __cplusplus
#define HAVERI_TABLE_HAS(TYPE, TABLE, MEMBER) \
  ((TABLE)->struct_size >= offsetof(TYPE, MEMBER) + sizeof(TYPE::MEMBER))
#else
#define HAVERI_TABLE_HAS(TYPE, TABLE, MEMBER) \
  ((TABLE)->struct_size >= offsetof(TYPE, MEMBER) + sizeof(((TYPE*)0)->MEMBER))
#endif

/* The one symbol a plugin exports. */
#define HAVERI_PLUGIN_ENTRY_SYMBOL "haveri_plugin_entry"

#if defined(__GNUC__)
#define HAVERI_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define HAVERI_PLUGIN_EXPORT
#endif

/* A borrowed UTF-8 string or byte range. `ptr` may be NULL only when `len` is 0.
 * Not NUL-terminated. */
typedef struct haveri_str {
  const char* ptr;
  size_t len;
} haveri_str;

typedef enum haveri_status {
  HAVERI_OK = 0,
  /* The arguments were malformed (bad JSON, unknown id, …). */
  HAVERI_ERR_INVALID = 1,
  /* The call is not supported by this plugin or host. */
  HAVERI_ERR_UNSUPPORTED = 2,
  /* Something failed inside the callee; it logged why. */
  HAVERI_ERR_INTERNAL = 3,
  /* The target (request, operation, instance) is gone: timed out or shut down. */
  HAVERI_ERR_GONE = 4
} haveri_status;

typedef enum haveri_log_level {
  HAVERI_LOG_DEBUG = 0,
  HAVERI_LOG_INFO = 1,
  HAVERI_LOG_WARN = 2,
  HAVERI_LOG_ERROR = 3
} haveri_log_level;

/* Opaque handle the host gives each instance; pass it back on every host call. */
typedef struct haveri_host_instance haveri_host_instance;
/* Opaque handle a plugin returns from instance_create; owned by the plugin. */
typedef struct haveri_plugin_instance haveri_plugin_instance;

/*
 * What the host offers a plugin instance. The table is owned by the host and
 * outlives every instance.
 */
typedef struct haveri_host_api {
  /* sizeof(haveri_host_api) as compiled into the host. */
  uint32_t struct_size;

  /*
   * Function: log
   *   Writes one line to the daemon's log, tagged with the instance name.
   * Parameters:
   *   host    - the instance's host handle.
   *   level   - a haveri_log_level.
   *   message - UTF-8 text; never put secrets in it.
   */
  void (*log)(haveri_host_instance* host, int level, haveri_str message);

  /*
   * Function: submit_inbound
   *   Hands one neutral inbound event (docs/plugin-abi.md, "Inbound events") that
   *   arrived with HTTP request `request_id` to the host. The host commits it
   *   before it sends the plugin's response to that request, so an acknowledged
   *   request never loses an event. Call it before `respond` for that request.
   * Parameters:
   *   host       - the instance's host handle.
   *   request_id - the id handle_request received.
   *   event_json - a JSON object {"v":1,"type":...}; copied by the host.
   * Return value:
   *   HAVERI_OK, HAVERI_ERR_INVALID (not JSON / no type), HAVERI_ERR_GONE (the
   *   request already timed out or was answered).
   */
  haveri_status (*submit_inbound)(haveri_host_instance* host, uint64_t request_id,
                                  haveri_str event_json);

  /*
   * Function: respond
   *   Gives the HTTP response for request `request_id`. The host sends it once
   *   every event submitted for the request is durable; if committing one
   *   failed, the host answers 503 instead so the platform retries. Exactly one
   *   respond per request; the host answers 504 itself if none comes in time.
   * Parameters:
   *   status       - the HTTP status code.
   *   content_type - e.g. "application/json"; may be empty for no body.
   *   body         - the response body; copied by the host.
   * Return value:
   *   HAVERI_OK, HAVERI_ERR_GONE (already answered or timed out).
   */
  haveri_status (*respond)(haveri_host_instance* host, uint64_t request_id, uint16_t status,
                           haveri_str content_type, haveri_str body);

  /*
   * Function: complete_operation
   *   Reports the outcome of an operation given to perform_operation. Exactly
   *   once per operation, from any thread.
   * Parameters:
   *   operation_id - the id perform_operation received.
   *   result_json  - {"v":1,"status":"ok"|"retryable"|"permanent", ...}
   *                  (docs/plugin-abi.md, "Operation results"); copied.
   * Return value:
   *   HAVERI_OK, HAVERI_ERR_INVALID (unparseable result), HAVERI_ERR_GONE.
   */
  haveri_status (*complete_operation)(haveri_host_instance* host, uint64_t operation_id,
                                      haveri_str result_json);

  /* ---- ABI 1.2: the host's network and timers, offered to plugins ----
   *
   * A plugin that calls platform APIs does it through the host, so that TLS,
   * proxies, timeouts and metrics live in one place. The answers come back
   * through the plugin's on_* members (haveri_plugin_api, ABI 1.2), called on the
   * instance's serialised context like every other call into it. A host function
   * here returns HAVERI_ERR_UNSUPPORTED when the plugin's table lacks the member
   * that would receive the answer. Ids (`call_id`, `socket_id`, `timer_id`) are
   * chosen by the plugin and are its own per instance. Check
   * HAVERI_TABLE_HAS(haveri_host_api, host, http_request) before using these: a
   * 1.1 host does not have them. */

  /*
   * Function: http_request
   *   Sends one HTTP(S) request. The answer (or the failure) arrives once, later,
   *   through plugin->on_http_response with the same `call_id` — never before this
   *   function returned.
   * Parameters:
   *   call_id      - the plugin's id for this call; must not be in flight already.
   *   request_json - {"v":1, "method":"POST", "url":"https://slack.com/api/x",
   *                   "headers":{"authorization":"Bearer …","content-type":"…"},
   *                   "timeout_ms":10000, "proxy":"http://proxy.example:3128"};
   *                   `method` and `url` (http or https) required; `timeout_ms`
   *                   1..120000 (default 10000) covers the whole exchange;
   *                   `proxy` optional. Header values are never logged.
   *   body         - the request body (may be empty); copied.
   * Return value:
   *   HAVERI_OK (an answer will come), HAVERI_ERR_INVALID (malformed request_json,
   *   a call_id in flight), HAVERI_ERR_UNSUPPORTED (no on_http_response).
   * The answer: response_json {"v":1,"status":200,"headers":{"retry-after":"30"}}
   *   with lower-case header names and the body; or, when no HTTP answer came,
   *   {"v":1,"status":0,"error":"timed out after 10000 ms"} and an empty body
   *   (a response body over the host's limit is such an error too).
   */
  haveri_status (*http_request)(haveri_host_instance* host, uint64_t call_id,
                                haveri_str request_json, haveri_str body);

  /*
   * Function: websocket_open
   *   Opens a WebSocket client connection (ws:// or wss://, with the system's
   *   trusted CAs and SNI). Its life is reported through
   *   plugin->on_websocket_event: HAVERI_WS_OPENED once connected, then
   *   HAVERI_WS_MESSAGE for each text message, and exactly one HAVERI_WS_CLOSED
   *   (also when it never opened), after which `socket_id` is free again.
   * Parameters:
   *   socket_id    - the plugin's id for this connection; must not be open.
   *   request_json - {"v":1,"url":"wss://…","headers":{…},"timeout_ms":10000,
   *                   "proxy":"http://proxy.example:3128"}; `url` required;
   *                   `timeout_ms` bounds connecting and the handshake.
   * Return value:
   *   HAVERI_OK, HAVERI_ERR_INVALID, HAVERI_ERR_UNSUPPORTED (no on_websocket_event).
   */
  haveri_status (*websocket_open)(haveri_host_instance* host, uint64_t socket_id,
                                  haveri_str request_json);

  /*
   * Function: websocket_send
   *   Queues one text message on an open connection; messages are sent in order.
   *   "Open" starts when websocket_open returned HAVERI_OK: what is queued before
   *   HAVERI_WS_OPENED is written right after the connection opened.
   * Return value:
   *   HAVERI_OK, HAVERI_ERR_GONE (not open, or closing), HAVERI_ERR_INVALID (too
   *   large for the host's limit, or too many messages waiting to be written).
   */
  haveri_status (*websocket_send)(haveri_host_instance* host, uint64_t socket_id, haveri_str text);

  /*
   * Function: websocket_close
   *   Closes a connection (the queued messages, a close frame, then the socket).
   *   HAVERI_WS_CLOSED still follows; for a connection still opening, with code 0.
   *   HAVERI_ERR_GONE when it is not open or already closing.
   */
  haveri_status (*websocket_close)(haveri_host_instance* host, uint64_t socket_id);

  /*
   * Function: set_timer
   *   Calls plugin->on_timer(instance, timer_id) once, `delay_ms` (0..86400000)
   *   from now. Setting a timer whose id is pending moves it.
   * Return value:
   *   HAVERI_OK, HAVERI_ERR_INVALID (delay out of range), HAVERI_ERR_UNSUPPORTED.
   */
  haveri_status (*set_timer)(haveri_host_instance* host, uint64_t timer_id, uint64_t delay_ms);

  /*
   * Function: cancel_timer
   *   Cancels a pending timer: on_timer will not be called for it (unless it was
   *   already running). HAVERI_ERR_GONE when none is pending with that id.
   */
  haveri_status (*cancel_timer)(haveri_host_instance* host, uint64_t timer_id);

  /*
   * Function: begin_inbound
   *   Starts an inbound delivery that did not arrive as an HTTP request to
   *   /hooks (a message on a WebSocket the plugin opened). Use the id it gives
   *   like a request_id: submit_inbound(id, event) for each event it carries,
   *   then respond(id, status, …) once. Instead of answering HTTP, the host then
   *   calls plugin->on_inbound_settled(instance, id, status) once: the status the
   *   plugin gave when every event is durable, 503 when one could not be stored
   *   (deliver it again later), 403 when its installation belongs to no
   *   organization, 504 when the plugin did not respond in time. Content type
   *   and body given to respond are ignored.
   * Parameters:
   *   out_inbound_id - receives the id.
   * Return value:
   *   HAVERI_OK, HAVERI_ERR_UNSUPPORTED (no on_inbound_settled).
   */
  haveri_status (*begin_inbound)(haveri_host_instance* host, uint64_t* out_inbound_id);

  /* New members are added here, at the end, in a later minor version. */
} haveri_host_api;

/* What plugin->on_websocket_event reports (ABI 1.2). */
typedef enum haveri_websocket_event {
  /* Connected and upgraded; `data` is empty. */
  HAVERI_WS_OPENED = 0,
  /* One text message; `data` is its payload. */
  HAVERI_WS_MESSAGE = 1,
  /* Gone, for good: `data` is {"code":1000,"reason":"…"} for a close frame, or
   * {"code":0,"error":"…"} when it failed or was cut off. The last event. */
  HAVERI_WS_CLOSED = 2
} haveri_websocket_event;

/*
 * What a plugin offers the host. Returned by the entry function; static storage
 * owned by the plugin, valid until the library is unloaded.
 */
typedef struct haveri_plugin_api {
  /* sizeof(haveri_plugin_api) as compiled into the plugin. */
  uint32_t struct_size;
  /* HAVERI_ABI_VERSION_MAJOR / _MINOR the plugin was built with. */
  uint16_t abi_major;
  uint16_t abi_minor;
  /* Static NUL-terminated strings: the platform name ("local", "slack") and the
   * plugin's own version. */
  const char* name;
  const char* version;

  /*
   * Function: instance_create
   *   Creates one instance (one Slack workspace, one Teams app, one local bus).
   * Parameters:
   *   host          - host API table; valid until instance_destroy returns.
   *   host_instance - handle to pass back on every host call.
   *   instance_name - the instance's configured name (also its /hooks/<name>/ path).
   *   config_json   - the instance's `settings` from the daemon config as a JSON
   *                   object, with ${ENV} and *_file secrets already resolved.
   *   out_instance  - receives the plugin's handle on success.
   * Return value:
   *   HAVERI_OK, or an error after logging, through host->log at error level,
   *   what is wrong and how to fix it (the daemon then refuses to start).
   */
  haveri_status (*instance_create)(const haveri_host_api* host, haveri_host_instance* host_instance,
                                   haveri_str instance_name, haveri_str config_json,
                                   haveri_plugin_instance** out_instance);

  /*
   * Function: instance_destroy
   *   Stops the instance and frees it. The plugin must not call the host for
   *   this instance after returning. Operations still outstanding are abandoned.
   */
  void (*instance_destroy)(haveri_plugin_instance* instance);

  /*
   * Function: handle_request
   *   An HTTP request arrived at /hooks/<instance>/...
   * Parameters:
   *   request_id   - identifies the request in submit_inbound / respond.
   *   request_json - {"v":1,"method":"POST","path":"/messages","query":"a=b",
   *                   "headers":{"content-type":"..."}} — `path` is the part after
   *                   /hooks/<instance>; header names are lower case.
   *   body         - the raw body bytes (signature checks need them unaltered).
   * Return value:
   *   HAVERI_OK when the plugin will (or did) respond; anything else makes the
   *   host answer 500 at once.
   */
  haveri_status (*handle_request)(haveri_plugin_instance* instance, uint64_t request_id,
                                  haveri_str request_json, haveri_str body);

  /*
   * Function: perform_operation
   *   Asks the plugin to do one neutral outbound operation on its platform
   *   (docs/plugin-abi.md, "Operations"). The plugin answers later or at once
   *   through host->complete_operation.
   * Return value:
   *   HAVERI_OK when complete_operation will be (or was) called; anything else is
   *   treated as a permanent failure of the operation.
   */
  haveri_status (*perform_operation)(haveri_plugin_instance* instance, uint64_t operation_id,
                                     haveri_str operation_json);

  /* ---- ABI 1.1 ---- */

  /*
   * Function: describe_instance (ABI 1.1; optional, may be NULL)
   *   Tells the host how to treat the instance: how fast it may be sent
   *   operations, so that the host paces its outbox instead of meeting the
   *   platform's rate limits. The host calls it once, right after instance_create
   *   succeeded and before any other call into the instance (serialised with
   *   every other call, like all of them), and only when `struct_size` covers
   *   this member.
   * Parameters:
   *   instance - the handle instance_create returned.
   * Return value:
   *   A UTF-8 JSON document owned by the instance, valid until instance_destroy
   *   (the host copies it at once):
   *     {"v":1,"limits":{"channel_interval_ms":1000,"per_second":20,"burst":20}}
   *   channel_interval_ms - integer 0..600000: least time between two operations
   *                         on one channel;
   *   per_second          - number, > 0 and <= 10000: sustained operations per
   *                         second for the whole instance;
   *   burst               - integer 1..10000: operations allowed at once above it.
   *   Every member is optional and readers ignore unknown ones. A length of 0
   *   means "nothing to declare". The host logs and ignores a document that is
   *   not such JSON, and each value outside its range; the instance still runs.
   */
  haveri_str (*describe_instance)(haveri_plugin_instance* instance);

  /* ---- ABI 1.2 ----
   * The answers to the host's network and timer services (haveri_host_api, ABI
   * 1.2). Each is optional (NULL: the plugin does not use that service) and is
   * called on the instance's serialised context, never concurrently with any other
   * call into the instance, and never after instance_destroy began. Every
   * argument is borrowed for the call. */

  /* The answer to host->http_request `call_id` (see there). */
  void (*on_http_response)(haveri_plugin_instance* instance, uint64_t call_id,
                           haveri_str response_json, haveri_str body);

  /* Something happened on WebSocket `socket_id`: a haveri_websocket_event. */
  void (*on_websocket_event)(haveri_plugin_instance* instance, uint64_t socket_id, int event,
                             haveri_str data);

  /* Timer `timer_id` set with host->set_timer fell due. */
  void (*on_timer)(haveri_plugin_instance* instance, uint64_t timer_id);

  /* Inbound delivery `inbound_id` from host->begin_inbound is settled: `status`
   * as described there (the plugin's own status: every event is durable). */
  void (*on_inbound_settled)(haveri_plugin_instance* instance, uint64_t inbound_id,
                             uint16_t status);

  /* New members are added here, at the end, in a later minor version. */
} haveri_plugin_api;

/*
 * Function: haveri_plugin_entry (type of the exported entry symbol)
 *   Called once after dlopen.
 * Parameters:
 *   host_abi_major, host_abi_minor - the host's ABI version.
 * Return value:
 *   The plugin's static API table (the host checks its abi_major), or NULL if the
 *   plugin cannot work with this host at all.
 */
typedef const haveri_plugin_api* (*haveri_plugin_entry_fn)(uint32_t host_abi_major,
                                                           uint32_t host_abi_minor);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HAVERI_PLUGIN_H */
