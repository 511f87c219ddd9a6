# Runs a command that is expected to FAIL, for fault-injection tests:
#   cmake -DEXPECT_REGEX=<regex> -P SadariExpectFailure.cmake <command> <args...>
# Succeeds only when the command exits non-zero (or is killed) AND its combined
# stdout/stderr matches EXPECT_REGEX. The output is echoed for ctest -V.
set(command "")
set(after_script FALSE)
foreach(i RANGE 1 ${CMAKE_ARGC})
  if(i EQUAL CMAKE_ARGC)
    break()
  endif()
  if(after_script)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} MATCHES "SadariExpectFailure\\.cmake$")
    set(after_script TRUE)
  endif()
endforeach()
if(NOT command)
  message(FATAL_ERROR "SadariExpectFailure.cmake: no command given after the script")
endif()

execute_process(COMMAND ${command} RESULT_VARIABLE status OUTPUT_VARIABLE output
                ERROR_VARIABLE output)
message("${output}")
message("exit status: ${status}")
if(status STREQUAL "0")
  message(FATAL_ERROR "expected the job to fail, but it exited with status 0")
endif()
if(NOT output MATCHES "${EXPECT_REGEX}")
  message(FATAL_ERROR "the job failed (status ${status}) but its output does not match: ${EXPECT_REGEX}")
endif()
message("ok: failed as expected (status ${status}) with a message matching: ${EXPECT_REGEX}")
