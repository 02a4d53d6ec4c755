// tapegrad: the umbrella header. Includes every public header.
//   #include <tapegrad/tapegrad.hpp>
//   namespace tg = tapegrad;
#pragma once

#include "tapegrad/autograd/activation.hpp"
#include "tapegrad/autograd/dropout.hpp"
#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/linear.hpp"
#include "tapegrad/autograd/loss.hpp"
#include "tapegrad/autograd/pooling.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/generator.hpp"
#include "tapegrad/core/log.hpp"
#include "tapegrad/core/npy.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tensor.hpp"
#include "tapegrad/layers/init.hpp"
#include "tapegrad/layers/module.hpp"
