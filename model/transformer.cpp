#include "model/transformer.h"

namespace sadari {

template <typename T>
Transformer<T>::Transformer(const ModelConfig& cfg, uint64_t seed, TokenDispatcher<T>* dispatcher,
                            ComputePrecision precision, const ExecContext& ctx)
    : cfg_(cfg),
      params_(dtype_of<T>::value),
      whole_(cfg, StageSpan{0, cfg.layers, /*has_embedding=*/true, /*has_head=*/true}, params_,
             seed, dispatcher, precision, ctx) {}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace sadari
