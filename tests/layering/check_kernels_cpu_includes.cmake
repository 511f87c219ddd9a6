# cmake -DSOURCE_DIR=<repository root> -P check_kernels_cpu_includes.cmake
#
# kernels/cpu is the CPU implementation of the kernel contracts; code outside
# kernels/ should reach layer math through the model's layers, not through the
# CPU kernels directly. Fails when a file in one of the folders below includes a
# header under kernels/cpu/ and is not in the list of existing violations.
cmake_minimum_required(VERSION 3.25)
set(folders core model optim parallel comm data checkpoint apps bench)

# The files that include a kernels/cpu header today. This list must only
# shrink: when a file stops including kernels/cpu headers, remove it here (the
# check says so); never add one.
set(allowed
  # Benchmarks the CPU FP8 kernels themselves (quantisers and GEMM), below the
  # interface on purpose.
  bench/fp8_gemm_bench.cpp
)

set(found "")
foreach(folder ${folders})
  file(GLOB_RECURSE files RELATIVE ${SOURCE_DIR}
       ${SOURCE_DIR}/${folder}/*.h ${SOURCE_DIR}/${folder}/*.hpp ${SOURCE_DIR}/${folder}/*.cpp
       ${SOURCE_DIR}/${folder}/*.cc ${SOURCE_DIR}/${folder}/*.cu ${SOURCE_DIR}/${folder}/*.cuh)
  foreach(f ${files})
    file(STRINGS ${SOURCE_DIR}/${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]kernels/cpu/")
    if(lines)
      list(APPEND found ${f})
    endif()
  endforeach()
endforeach()

set(new "")
foreach(f ${found})
  if(NOT f IN_LIST allowed)
    list(APPEND new ${f})
  endif()
endforeach()
set(stale "")
foreach(f ${allowed})
  if(NOT f IN_LIST found)
    list(APPEND stale ${f})
  endif()
endforeach()
if(stale)
  string(REPLACE ";" ", " stale_text "${stale}")
  message(STATUS "no longer include kernels/cpu headers (remove them from the list in "
                 "tests/layering/check_kernels_cpu_includes.cmake): ${stale_text}")
endif()
if(new)
  string(REPLACE ";" ", " new_text "${new}")
  message(FATAL_ERROR "new includes of kernels/cpu headers outside kernels/: ${new_text}\n"
                      "Reach the math through model/ (or a kernel contract that is not CPU "
                      "specific); docs/architecture.md lists who may include whom.")
endif()
list(LENGTH found n)
message(STATUS "kernels/cpu included outside kernels/ by the ${n} listed files only")
