# Script mode: turn IN into a C++ translation unit defining `const std::string_view SYMBOL`.
file(READ ${IN} _hex HEX)
string(LENGTH "${_hex}" _len)
math(EXPR _bytes "${_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," _body "${_hex}")
file(WRITE ${OUT} "// Generated from ${IN}; do not edit.\n#include <string_view>\nnamespace sd35::embedded {\nstatic const char ${SYMBOL}_data[] = {${_body} 0};\nextern const std::string_view ${SYMBOL}{${SYMBOL}_data, ${_bytes}};\n}  // namespace sd35::embedded\n")
