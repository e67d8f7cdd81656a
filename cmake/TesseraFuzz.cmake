# TESSERA_FUZZ: instruments the whole tree for libFuzzer (coverage feedback) with AddressSanitizer
# and UndefinedBehaviorSanitizer, so that the libraries a fuzz target links are instrumented too.
# The fuzz targets themselves (tests/fuzz) add -fsanitize=fuzzer, which links libFuzzer's main.
# Only clang ships libFuzzer; GCC would fail late and obscurely, so refuse it here.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "TESSERA_FUZZ=ON needs clang (libFuzzer is part of clang's compiler-rt), but the C++ compiler "
    "is ${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}); configure a fresh build folder with "
    "CXX=clang++-14, as scripts/fuzz.sh does")
endif()
if(TESSERA_SANITIZE)
  message(FATAL_ERROR
    "TESSERA_FUZZ=ON already builds with address,undefined; leave TESSERA_SANITIZE empty")
endif()
add_compile_options(
  "$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link,address,undefined;-fno-omit-frame-pointer;-fno-sanitize-recover=all>")
add_link_options(-fsanitize=address,undefined)
