/* A plugin whose entry refuses every host by returning no table. */
#include <haveri/plugin.h>

HAVERI_PLUGIN_EXPORT const haveri_plugin_api* haveri_plugin_entry(uint32_t major, uint32_t minor);

const haveri_plugin_api* haveri_plugin_entry(uint32_t major, uint32_t minor) {
  (void)major;
  (void)minor;
  return NULL;
}
