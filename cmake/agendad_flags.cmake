# Warnings and sanitizers live on an INTERFACE target that every agendad target links, so that
# nothing leaks into the global flags and third-party code is compiled as Debian ships it.
add_library(agendad_flags INTERFACE)
add_library(agendad::flags ALIAS agendad_flags)
target_compile_options(agendad_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
  -Wimplicit-fallthrough -Wformat=2
  # GCC 12 pairs Boost.Asio's coroutine-frame operator delete with the wrong operator new and
  # reports a mismatch in every awaitable function: a known false positive of that release.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)
if(AGENDAD_WERROR)
  target_compile_options(agendad_flags INTERFACE -Werror)
endif()
if(AGENDAD_SANITIZE)
  # GCC 12 reports -Wmaybe-uninitialized inside libstdc++ (<regex>, std::function) once ASan's
  # instrumentation is in: false positives in the standard library, not findings in our code.
  # Clang 14's -fsanitize=function cannot place its prologue data in the split functions of a
  # C++20 coroutine ("Cannot represent a difference across sections"); the other UBSan checks
  # stay on.
  # -g1 (after the build type's -g): line tables and function names, all a sanitizer report
  # needs, for about a fifth less compile time than full debug information. -O1 (after the
  # build type's -O2), as sanitizers are usually run: the largest test file compiles in 46 s
  # instead of 66 s, which keeps CI's second, sanitized pass within its time.
  target_compile_options(agendad_flags INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>
    $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function> -g1 -O1)
  target_link_options(agendad_flags INTERFACE -fsanitize=address,undefined
    $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function>)
endif()
if(AGENDAD_FUZZ)
  # Coverage instrumentation for every agendad library, so that libFuzzer sees which branches an
  # input reached; only the fuzz executables link libFuzzer itself (-fsanitize=fuzzer). Linked
  # too, so that every other program finds the coverage callbacks without a sanitizer runtime.
  target_compile_options(agendad_flags INTERFACE -fsanitize=fuzzer-no-link)
  target_link_options(agendad_flags INTERFACE -fsanitize=fuzzer-no-link)
endif()
