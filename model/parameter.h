// Moved to core/parameter.h (the optimizer needs it and may not include model/).
#pragma once
#include "core/parameter.h"
