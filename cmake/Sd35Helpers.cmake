# Helpers shared by the src/ and tests/ CMake files.

# Warnings for our own targets only (never for third-party headers).
function(sd35_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# sd35_embed(<out_var> <symbol> <file>): compiles <file> into the binary as
#   extern const std::string_view <symbol>;
# declared in a generated header. The build re-runs when the file changes.
function(sd35_embed out_var symbol file)
  set(_cpp ${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.cpp)
  add_custom_command(
    OUTPUT ${_cpp}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${_cpp} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake
    COMMENT "Embedding ${file}")
  set(${out_var} ${${out_var}} ${_cpp} PARENT_SCOPE)
endfunction()
