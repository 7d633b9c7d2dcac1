# Warnings and sanitizers live on an INTERFACE target that every agendad target links, so that
# nothing leaks into the global flags and third-party code is compiled as Debian ships it.
add_library(agendad_flags INTERFACE)
add_library(agendad::flags ALIAS agendad_flags)
target_compile_options(agendad_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused
  -Wimplicit-fallthrough -Wformat=2)
if(AGENDAD_WERROR)
  target_compile_options(agendad_flags INTERFACE -Werror)
endif()
if(AGENDAD_SANITIZE)
  target_compile_options(agendad_flags INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(agendad_flags INTERFACE -fsanitize=address,undefined)
endif()
