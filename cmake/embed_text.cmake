# Writes a C++ source defining agendad::config::builtin_executive_policy_text() from a text file.
# Usage: cmake -DINPUT=file -DOUTPUT=file.cpp -P embed_text.cmake
file(READ "${INPUT}" _text)
set(_delim "agendad_embedded")
string(FIND "${_text}" ")${_delim}\"" _clash)
if(NOT _clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${_delim}\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_text.cmake. Do not edit.\n"
  "#include <string_view>\n"
  "namespace agendad::config {\n"
  "std::string_view builtin_executive_policy_text() {\n"
  "    static constexpr std::string_view text = R\"${_delim}(${_text})${_delim}\";\n"
  "    return text;\n"
  "}\n"
  "}  // namespace agendad::config\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
