# sadari_add_mpi_test: registers a ctest test that runs a program on several
# MPI ranks through mpirun/mpiexec.
#
#   sadari_add_mpi_test(NAME mpi.dp_parity NP 4
#                       COMMAND test_mpi --gtest_filter=DpParity.*
#                       [ENVIRONMENT VAR=value ...]   # added to the defaults below
#                       [TIMEOUT seconds]             # default 300
#                       [EXPECT_FAILURE regex])       # see below
#
# COMMAND starts with a target name (replaced by its file) or a path, then its
# arguments. Every test gets OMP_NUM_THREADS=1 and OMP_WAIT_POLICY=passive (N
# ranks share this machine's cores; spinning OpenMP threads would stall them),
# SADARI_COMM_TIMEOUT_S=30 (a hung collective ends the job with a message
# naming rank and call instead of waiting for the ctest timeout) and
# SADARI_TEST_TIMEOUT_S (test_mpi's own overall limit, a little below TIMEOUT,
# so even a hang outside communication prints which rank stopped).
#
# EXPECT_FAILURE regex: the test passes only when the job exits NON-ZERO and its
# combined output matches regex (fault-injection tests); cmake/SadariExpectFailure.cmake
# runs the job and checks both.
#
# With OpenMPI, mpirun gets --allow-run-as-root (containers and CI run as root)
# and --oversubscribe (more ranks than cores is how we test on small machines).
# PROCESSORS is set to NP so `ctest -j` does not start more ranks than it should.
include_guard(GLOBAL)

if(NOT DEFINED SADARI_MPIEXEC_EXTRA_FLAGS)
  set(SADARI_MPIEXEC_EXTRA_FLAGS "")
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _sadari_mpiexec_version
                  ERROR_VARIABLE _sadari_mpiexec_version RESULT_VARIABLE _sadari_mpiexec_rc)
  if(_sadari_mpiexec_version MATCHES "Open MPI|OpenRTE")
    set(SADARI_MPIEXEC_EXTRA_FLAGS --allow-run-as-root --oversubscribe)
  endif()
  set(SADARI_MPIEXEC_EXTRA_FLAGS "${SADARI_MPIEXEC_EXTRA_FLAGS}" CACHE STRING
      "Flags sadari's MPI tests pass to mpiexec (detected)")
endif()

function(sadari_add_mpi_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;NP;TIMEOUT;EXPECT_FAILURE" "COMMAND;ENVIRONMENT")
  if(NOT arg_NAME OR NOT arg_NP OR NOT arg_COMMAND)
    message(FATAL_ERROR "sadari_add_mpi_test needs NAME, NP and COMMAND")
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  list(POP_FRONT arg_COMMAND program)
  if(TARGET ${program})
    set(program $<TARGET_FILE:${program}>)
  endif()
  set(launch ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${arg_NP} ${SADARI_MPIEXEC_EXTRA_FLAGS}
             ${MPIEXEC_PREFLAGS} ${program} ${MPIEXEC_POSTFLAGS} ${arg_COMMAND})
  if(DEFINED arg_EXPECT_FAILURE)
    add_test(NAME ${arg_NAME}
             COMMAND ${CMAKE_COMMAND} -DEXPECT_REGEX=${arg_EXPECT_FAILURE}
                     -P ${PROJECT_SOURCE_DIR}/cmake/SadariExpectFailure.cmake ${launch}
             WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  else()
    add_test(NAME ${arg_NAME} COMMAND ${launch} WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  endif()
  math(EXPR own_limit "${arg_TIMEOUT} * 9 / 10")
  set(environment OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive SADARI_COMM_TIMEOUT_S=30
                  SADARI_TEST_TIMEOUT_S=${own_limit})
  foreach(setting ${arg_ENVIRONMENT})  # a variable given by the caller replaces its default
    string(REGEX REPLACE "=.*" "" variable "${setting}")
    list(FILTER environment EXCLUDE REGEX "^${variable}=")
    list(APPEND environment "${setting}")
  endforeach()
  set_tests_properties(${arg_NAME} PROPERTIES
    TIMEOUT ${arg_TIMEOUT}
    PROCESSORS ${arg_NP}
    ENVIRONMENT "${environment}")
endfunction()
