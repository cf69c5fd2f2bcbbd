# Warnings and sanitizers for reckon's own tests, examples and benchmarks. They live on this private
# target and never on `reckon`, so that users' builds see none of them.
add_library(reckon_dev_flags INTERFACE)
target_link_libraries(reckon_dev_flags INTERFACE reckon::reckon)

if(MSVC)
  target_compile_options(reckon_dev_flags INTERFACE /W4 /permissive- $<$<BOOL:${RECKON_WERROR}>:/WX>)
else()
  target_compile_options(reckon_dev_flags INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
    -Wnull-dereference -Wimplicit-fallthrough
    # Designated initialisers that leave defaulted fields out are the intended style.
    -Wno-missing-field-initializers
    $<$<BOOL:${RECKON_WERROR}>:-Werror>)
endif()

if(RECKON_SANITIZE)
  target_compile_options(reckon_dev_flags INTERFACE
    -fsanitize=${RECKON_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(reckon_dev_flags INTERFACE -fsanitize=${RECKON_SANITIZE})
endif()
