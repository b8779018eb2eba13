/* A plugin built for ABI 1.0: its table ends after perform_operation. The slot
 * where 1.1 keeps describe_instance holds a trap: a host that read it without
 * checking struct_size would get limits from it and the plugin would say so in
 * every response. */
#include <stdlib.h>
#include <string.h>

#include <haveri/plugin.h>

typedef struct old_instance {
  const haveri_host_api* host;
  haveri_host_instance* host_instance;
  int described; /* the trap sprang */
} old_instance;

static haveri_status create(const haveri_host_api* host, haveri_host_instance* host_instance,
                            haveri_str name, haveri_str config, haveri_plugin_instance** out) {
  old_instance* instance = calloc(1, sizeof *instance);
  (void)name;
  (void)config;
  if (instance == NULL) {
    return HAVERI_ERR_INTERNAL;
  }
  instance->host = host;
  instance->host_instance = host_instance;
  *out = (haveri_plugin_instance*)instance;
  return HAVERI_OK;
}

static void destroy(haveri_plugin_instance* handle) {
  free(handle);
}

static haveri_status handle(haveri_plugin_instance* handle, uint64_t id, haveri_str request,
                            haveri_str body) {
  old_instance* instance = (old_instance*)handle;
  static const char kType[] = "text/plain";
  static const char kFine[] = "a 1.0 plugin, never described";
  static const char kTrapped[] = "describe_instance was called on a 1.0 table";
  const char* text = instance->described ? kTrapped : kFine;
  haveri_str type = {kType, sizeof kType - 1};
  haveri_str answer = {text, strlen(text)};
  (void)request;
  (void)body;
  instance->host->respond(instance->host_instance, id, 200, type, answer);
  return HAVERI_OK;
}

static haveri_status perform(haveri_plugin_instance* handle, uint64_t id, haveri_str op) {
  (void)handle;
  (void)id;
  (void)op;
  return HAVERI_ERR_UNSUPPORTED;
}

static haveri_str trap(haveri_plugin_instance* handle) {
  static const char kLimits[] = "{\"v\":1,\"limits\":{\"burst\":7}}";
  haveri_str limits = {kLimits, sizeof kLimits - 1};
  ((old_instance*)handle)->described = 1;
  return limits;
}

HAVERI_PLUGIN_EXPORT const haveri_plugin_api* haveri_plugin_entry(uint32_t major, uint32_t minor);

const haveri_plugin_api* haveri_plugin_entry(uint32_t major, uint32_t minor) {
  static haveri_plugin_api api;
  (void)major;
  (void)minor;
  memset(&api, 0, sizeof api);
  api.struct_size = (uint32_t)offsetof(haveri_plugin_api, describe_instance); /* 1.0: 56 */
  api.abi_major = HAVERI_ABI_VERSION_MAJOR;
  api.abi_minor = 0;
  api.name = "abi_1_0";
  api.version = "0.0.1";
  api.instance_create = create;
  api.instance_destroy = destroy;
  api.handle_request = handle;
  api.perform_operation = perform;
  api.describe_instance = trap; /* past struct_size: must never be read */
  return &api;
}
