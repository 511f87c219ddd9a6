# sadari_protobuf_sources(TARGET target PROTOS a.proto ...): compiles the .proto
# files with protoc into <build>/<folder>/<name>.pb.{h,cc} and adds the sources to
# target. Every .proto is named by its path from the source root (import
# "checkpoint/manifest.proto"; include "checkpoint/manifest.pb.h"), like every
# other header of the project. (CMake's protobuf_generate roots each file at its
# own folder, which would make the include "manifest.pb.h".)
# No include_guard: find_package's imported targets are scoped to the including folder.
find_package(Protobuf REQUIRED)

function(sadari_protobuf_sources)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "TARGET" "PROTOS")
  foreach(proto ${arg_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${SADARI_INCLUDE_ROOT} ${abs})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(out_h ${PROJECT_BINARY_DIR}/${stem}.pb.h)
    set(out_cc ${PROJECT_BINARY_DIR}/${stem}.pb.cc)
    add_custom_command(
      OUTPUT ${out_h} ${out_cc}
      COMMAND protobuf::protoc --cpp_out=${PROJECT_BINARY_DIR} -I ${SADARI_INCLUDE_ROOT} ${abs}
      DEPENDS ${abs} protobuf::protoc
      COMMENT "protoc ${rel}" VERBATIM)
    target_sources(${arg_TARGET} PRIVATE ${out_cc} ${out_h})
  endforeach()
  target_include_directories(${arg_TARGET} PUBLIC ${PROJECT_BINARY_DIR})
  target_link_libraries(${arg_TARGET} PUBLIC protobuf::libprotobuf)
endfunction()
