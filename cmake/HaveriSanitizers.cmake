# With HAVERI_SANITIZE=ON every target (daemon, plugins, tests) is built with ASan
# and UBSan. Plugins must match the daemon: a sanitized daemon loads sanitized plugins.
if(HAVERI_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
