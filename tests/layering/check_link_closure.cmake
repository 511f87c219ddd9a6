# cmake -DTARGET=name -DCLOSURE=a|b|... -DFORBIDDEN=x|y|... -P check_link_closure.cmake
#
# Fails when the link closure of TARGET (computed by tests/layering/CMakeLists.txt
# at configure time) holds a FORBIDDEN target or anything MPI (the MPI::
# targets, or a library or flag naming mpi).
cmake_minimum_required(VERSION 3.25)
string(REPLACE "|" ";" closure "${CLOSURE}")
string(REPLACE "|" ";" forbidden "${FORBIDDEN}")
set(bad "")
foreach(item ${closure})
  string(TOLOWER "${item}" lower)
  if(item IN_LIST forbidden)
    list(APPEND bad "${item}")
  elseif(lower MATCHES "(^|[^a-z])mpi([^a-z]|$)|libmpi|mpi_cxx|^mpi::")
    list(APPEND bad "${item} (MPI)")
  endif()
endforeach()
if(bad)
  string(REPLACE ";" ", " bad_text "${bad}")
  string(REPLACE ";" ", " closure_text "${closure}")
  message(FATAL_ERROR
    "${TARGET} links, directly or transitively: ${bad_text}\n"
    "The planner answers questions before a run; it must build from core and the pure "
    "parts of parallel/ (sadari_parallel_layout) only.\n"
    "Its whole link closure: ${closure_text}")
endif()
string(REPLACE ";" ", " closure_text "${closure}")
message(STATUS "${TARGET} links: ${closure_text}")
