// tapegrad: the umbrella header. Includes every public header.
//   #include <tapegrad/tapegrad.hpp>
//   namespace tg = tapegrad;
#pragma once

#include "tapegrad/autograd/elementwise.hpp"
#include "tapegrad/autograd/gradcheck.hpp"
#include "tapegrad/autograd/tape.hpp"
#include "tapegrad/core/atomic_file.hpp"
#include "tapegrad/core/dataloader.hpp"
#include "tapegrad/core/dataset.hpp"
#include "tapegrad/core/dtype.hpp"
#include "tapegrad/core/error.hpp"
#include "tapegrad/core/generator.hpp"
#include "tapegrad/core/idx.hpp"
#include "tapegrad/core/log.hpp"
#include "tapegrad/core/mnist.hpp"
#include "tapegrad/core/named_tensors.hpp"
#include "tapegrad/core/parallel.hpp"
#include "tapegrad/core/safetensors.hpp"
#include "tapegrad/core/shape.hpp"
#include "tapegrad/core/tensor.hpp"
