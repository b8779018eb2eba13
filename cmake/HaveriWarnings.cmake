# haveri_set_warnings(<target>): the warning set every Haveri target is built with.
# Not -Wnull-dereference: at -O2 GCC 12 reports it inside inlined Boost.Asio code.
# C sources (test plugins, the ABI header check) get the subset that applies to C.
function(haveri_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Werror
    $<$<COMPILE_LANGUAGE:CXX>:-Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
                              -Wunused -Woverloaded-virtual>)
endfunction()

function(haveri_set_c_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
endfunction()
