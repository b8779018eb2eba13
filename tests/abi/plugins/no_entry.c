/* A shared library that is not a Haveri plugin: it exports no entry symbol. */
int haveri_not_the_entry(void);
__attribute__((visibility("default"))) int haveri_not_the_entry(void) {
  return 42;
}
