# Corpus: float specials.
@0xa5a2d3e6c518457c;
struct Floats {
  a @0 :Float64 = inf; b @1 :Float64 = -inf; c @2 :Float32 = nan; d @3 :Float32 = 3;
  e @4 :Float64 = -7; f @5 :Float64 = 1e-300; g @6 :Float32 = 0.1; h @7 :Float64 = 6.02e23;
}
