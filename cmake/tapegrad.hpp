// tapegrad: the umbrella header. Includes every public header.
//   #include <tapegrad/tapegrad.hpp>
//   namespace tg = tapegrad;
#pragma once

#include "tapegrad/autograd/conv2d.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/generator.hpp"
#include "tapegrad/core/log.hpp"
#include "tapegrad/core/npy.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/layers/conv2d.hpp"
#include "tapegrad/layers/init.hpp"
#include "tapegrad/layers/module.hpp"
